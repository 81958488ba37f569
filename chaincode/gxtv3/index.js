'use strict';
// The contracts the peer sees (Contract:Function names match schemas/routing.py).
module.exports.contracts = [
    require('./lib/admin'),
    require('./lib/identity'),
    require('./lib/tokenomics'),
    require('./lib/organization'),
    require('./lib/loanpool'),
    require('./lib/governance'),
    require('./lib/tax'),
    require('./lib/query'),
];
