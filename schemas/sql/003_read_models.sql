-- Read models the projections fill (see projections/). Amounts are NUMERIC(40,0): integers in the
-- token's smallest unit, as on the ledger. Indexes serve the API's queries: a user's wallet and
-- balance, a wallet's history by time, open proposals with their vote counts.
CREATE TABLE "User" (
  "userId" TEXT PRIMARY KEY,
  email TEXT NOT NULL,
  "firstName" TEXT NOT NULL,
  "lastName" TEXT NOT NULL,
  country TEXT NOT NULL,
  "kycStatus" TEXT NOT NULL DEFAULT 'PENDING',
  "isAdmin" BOOLEAN NOT NULL DEFAULT false,
  "createdBlock" BIGINT NOT NULL,
  "updatedAt" TIMESTAMPTZ NOT NULL
);
CREATE TABLE "Application" (
  "applicationId" TEXT PRIMARY KEY,
  "userId" TEXT NOT NULL,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  "updatedAt" TIMESTAMPTZ NOT NULL
);
CREATE INDEX "Application_userId_idx" ON "Application"("userId");
CREATE TABLE "Wallet" (
  "walletId" TEXT PRIMARY KEY,
  "ownerId" TEXT NOT NULL,
  "ownerType" TEXT NOT NULL,
  balance NUMERIC(40,0) NOT NULL DEFAULT 0 CHECK (balance >= 0),
  frozen BOOLEAN NOT NULL DEFAULT false,
  "frozenReason" TEXT,
  "updatedAt" TIMESTAMPTZ NOT NULL
);
CREATE INDEX "Wallet_ownerId_idx" ON "Wallet"("ownerId");
CREATE TABLE "TransactionHistory" (
  id TEXT PRIMARY KEY,                  -- txId:eventIndex
  "txId" TEXT NOT NULL,
  "blockNumber" BIGINT NOT NULL,
  kind TEXT NOT NULL,                   -- TRANSFER, GENESIS, TAX, MULTISIG, LOAN
  "fromWalletId" TEXT,
  "toWalletId" TEXT,
  amount NUMERIC(40,0) NOT NULL,
  "requestId" TEXT,
  "committedAt" TIMESTAMPTZ NOT NULL
);
CREATE INDEX "TransactionHistory_from_idx" ON "TransactionHistory"("fromWalletId", "committedAt" DESC);
CREATE INDEX "TransactionHistory_to_idx" ON "TransactionHistory"("toWalletId", "committedAt" DESC);
CREATE TABLE "LegalTenderStatus" (
  "countryCode" TEXT PRIMARY KEY,
  "countryName" TEXT NOT NULL,
  "treasuryActive" BOOLEAN NOT NULL DEFAULT false,
  "genesisDistributed" NUMERIC(40,0) NOT NULL DEFAULT 0,
  "updatedAt" TIMESTAMPTZ NOT NULL
);
CREATE TABLE "Organization" (
  "orgId" TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  "proposerId" TEXT NOT NULL,
  status TEXT NOT NULL,                 -- PROPOSED, ACTIVE
  members JSONB NOT NULL DEFAULT '[]',
  "requiredApprovals" INTEGER NOT NULL DEFAULT 1,
  "updatedAt" TIMESTAMPTZ NOT NULL
);
CREATE TABLE "Proposal" (
  "proposalId" TEXT PRIMARY KEY,
  "proposerId" TEXT NOT NULL,
  title TEXT NOT NULL,
  parameter TEXT NOT NULL,
  value TEXT NOT NULL,
  status TEXT NOT NULL,                 -- OPEN, EXECUTED, REJECTED
  "votesFor" INTEGER NOT NULL DEFAULT 0,
  "votesAgainst" INTEGER NOT NULL DEFAULT 0,
  "updatedAt" TIMESTAMPTZ NOT NULL
);
CREATE INDEX "Proposal_open_idx" ON "Proposal"("updatedAt" DESC) WHERE status = 'OPEN';
CREATE TABLE "Vote" (
  "proposalId" TEXT NOT NULL,
  "voterId" TEXT NOT NULL,
  vote TEXT NOT NULL,
  "castAt" TIMESTAMPTZ NOT NULL,
  PRIMARY KEY ("proposalId", "voterId")
);
CREATE TABLE "Loan" (
  "loanId" TEXT PRIMARY KEY,
  "borrowerId" TEXT NOT NULL,
  amount NUMERIC(40,0) NOT NULL,
  status TEXT NOT NULL,                 -- APPLIED, APPROVED
  "approverId" TEXT,
  "updatedAt" TIMESTAMPTZ NOT NULL
);
CREATE INDEX "Loan_borrowerId_idx" ON "Loan"("borrowerId");
CREATE TABLE "SystemConfig" (
  key TEXT PRIMARY KEY,                 -- bootstrapped, paused, admins, parameter names
  value JSONB NOT NULL,
  "updatedAt" TIMESTAMPTZ NOT NULL
);
