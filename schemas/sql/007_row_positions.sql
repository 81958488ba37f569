-- Every read-model row that an event can set (not only add to) remembers the ledger position
-- (block, txIndex, eventIndex) of the event that last set it, and a fold applies an event to the
-- row only when the event is newer. Records can come again out of ledger order: a dead-letter
-- replay appends an old event at the end of its partition, and a second block publisher writes the
-- chain again. Without this, a replayed WalletFrozen would freeze a wallet the ledger has unfrozen.
--
-- The events that set a row share its key (schemas.events.KEY_FIELDS), so in the normal flow they
-- come in ledger order on one partition. Writes from other keys never touch these columns: balance
-- moves and genesis totals are deltas guarded by their own rows (TransactionHistory,
-- GenesisDistribution, Vote), and a wallet's owner is written once, by its creating event.
-- Columns that only ever move one way need no position either: LegalTenderStatus (a country's name is
-- set by its one CountryInitialized, treasuryActive only becomes true), a user's isAdmin, a
-- proposal's votes while it is OPEN. SystemConfig has had the same columns since 005.
ALTER TABLE "User" ADD COLUMN "lastBlock" BIGINT NOT NULL DEFAULT -1,
  ADD COLUMN "lastTxIndex" INTEGER NOT NULL DEFAULT -1, ADD COLUMN "lastEventIndex" INTEGER NOT NULL DEFAULT -1;
ALTER TABLE "Wallet" ADD COLUMN "lastBlock" BIGINT NOT NULL DEFAULT -1,
  ADD COLUMN "lastTxIndex" INTEGER NOT NULL DEFAULT -1, ADD COLUMN "lastEventIndex" INTEGER NOT NULL DEFAULT -1;
ALTER TABLE "Organization" ADD COLUMN "lastBlock" BIGINT NOT NULL DEFAULT -1,
  ADD COLUMN "lastTxIndex" INTEGER NOT NULL DEFAULT -1, ADD COLUMN "lastEventIndex" INTEGER NOT NULL DEFAULT -1;
ALTER TABLE "MultiSigTx" ADD COLUMN "lastBlock" BIGINT NOT NULL DEFAULT -1,
  ADD COLUMN "lastTxIndex" INTEGER NOT NULL DEFAULT -1, ADD COLUMN "lastEventIndex" INTEGER NOT NULL DEFAULT -1;
ALTER TABLE "Proposal" ADD COLUMN "lastBlock" BIGINT NOT NULL DEFAULT -1,
  ADD COLUMN "lastTxIndex" INTEGER NOT NULL DEFAULT -1, ADD COLUMN "lastEventIndex" INTEGER NOT NULL DEFAULT -1;
ALTER TABLE "Loan" ADD COLUMN "lastBlock" BIGINT NOT NULL DEFAULT -1,
  ADD COLUMN "lastTxIndex" INTEGER NOT NULL DEFAULT -1, ADD COLUMN "lastEventIndex" INTEGER NOT NULL DEFAULT -1;
