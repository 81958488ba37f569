-- Every read model fed from the real chaincode's events (projections/), and what each needs to be
-- idempotent and order-independent across partitions of gx.fabric.events.
--
-- Wallet balances are sums of deltas, one TransactionHistory row per move, applied only when that
-- row is new: a credit keyed on the sender's partition may land before or after the receiver's
-- other events, and deltas commute. The ledger enforces non-negative balances; a read model that
-- folds partitions in parallel may pass through a state the ledger never had for a moment, so the
-- CHECK goes (gxctl verify compares the settled state with the ledger).
ALTER TABLE "Wallet" DROP CONSTRAINT IF EXISTS "Wallet_balance_check";
ALTER TABLE "Wallet" ALTER COLUMN "ownerType" SET DEFAULT 'UNKNOWN';
ALTER TABLE "TransactionHistory" ADD COLUMN "txIndex" INTEGER NOT NULL DEFAULT 0;

ALTER TABLE "Organization" ADD COLUMN "walletId" TEXT;
CREATE TABLE "MultiSigTx" (
  "orgId" TEXT NOT NULL,
  "multisigTxId" TEXT NOT NULL,
  "initiatorId" TEXT NOT NULL,
  "toWalletId" TEXT NOT NULL,
  amount NUMERIC(40,0) NOT NULL,
  approvals JSONB NOT NULL DEFAULT '[]',  -- approver ids, in the order they approved
  status TEXT NOT NULL,                   -- PENDING, EXECUTED
  "updatedAt" TIMESTAMPTZ NOT NULL,
  PRIMARY KEY ("orgId", "multisigTxId")
);
CREATE INDEX "MultiSigTx_pending_idx" ON "MultiSigTx"("orgId") WHERE status = 'PENDING';

-- Genesis distributions, one row per event: the idempotence guard of LegalTenderStatus's running
-- total (a country's genesis events arrive on many partitions), and a per-user record besides.
CREATE TABLE "GenesisDistribution" (
  id TEXT PRIMARY KEY,                    -- txId:eventIndex
  "countryCode" TEXT NOT NULL,
  "userId" TEXT NOT NULL,
  amount NUMERIC(40,0) NOT NULL,
  "blockNumber" BIGINT NOT NULL,
  "committedAt" TIMESTAMPTZ NOT NULL
);
CREATE INDEX "GenesisDistribution_country_idx" ON "GenesisDistribution"("countryCode");

-- A setting changes from two places (UpdateSystemParameter keyed "system", ProposalExecuted keyed
-- by the proposal): the newer ledger position wins, whatever order the partitions are folded in.
ALTER TABLE "SystemConfig"
  ADD COLUMN "lastBlock" BIGINT NOT NULL DEFAULT -1,
  ADD COLUMN "lastTxIndex" INTEGER NOT NULL DEFAULT -1,
  ADD COLUMN "lastEventIndex" INTEGER NOT NULL DEFAULT -1;

-- The full ledger position of a checkpoint: read-your-writes compares (block, txIndex, eventIndex).
ALTER TABLE "ProjectorState" ADD COLUMN "lastTxIndex" INTEGER NOT NULL DEFAULT -1;

-- A projector's batch is sent to the server in one go (pipeline mode) and checks its own
-- precondition there: the checkpoints it was prepared against. If they moved, this raises and the
-- whole transaction rolls back (SQLSTATE GXCKP; the projector replays from the stored checkpoints).
CREATE FUNCTION gx_assert_checkpoints(ok BOOLEAN) RETURNS VOID LANGUAGE plpgsql AS $$
BEGIN
  IF NOT ok THEN
    RAISE EXCEPTION 'projector checkpoints moved' USING ERRCODE = 'GXCKP';
  END IF;
END $$;
