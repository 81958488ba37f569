-- The outbox, as upstream services already write it (quoted names and columns kept), plus what
-- the pipeline needs. The old system's INSERT (id, tenantId, service, commandType, requestId,
-- payload, status, attempts, createdAt, updatedAt) keeps working: every new column has a default
-- or is derived by the database.
CREATE TYPE "OutboxStatus" AS ENUM ('PENDING','LOCKED','SUBMITTED','CONFIRMED','FAILED');
CREATE TYPE "CommandType" AS ENUM (
  'CREATE_USER','TRANSFER_TOKENS','BOOTSTRAP_SYSTEM','INITIALIZE_COUNTRY','DISTRIBUTE_GENESIS',
  'FREEZE_WALLET','UNFREEZE_WALLET','PROPOSE_ORGANIZATION','ENDORSE_MEMBERSHIP','ACTIVATE_ORGANIZATION',
  'DEFINE_AUTH_RULE','INITIATE_MULTISIG_TX','APPROVE_MULTISIG_TX','EXECUTE_MULTISIG_TX','APPLY_FOR_LOAN',
  'APPROVE_LOAN','SUBMIT_PROPOSAL','CAST_VOTE','EXECUTE_PROPOSAL','UPDATE_SYSTEM_PARAMETER','PAUSE_SYSTEM',
  'RESUME_SYSTEM','APPOINT_ADMIN','ACTIVATE_TREASURY','APPLY_VELOCITY_TAX');

CREATE TABLE "OutboxCommand" (
  id TEXT PRIMARY KEY,
  "tenantId" TEXT NOT NULL,
  service TEXT NOT NULL,
  "commandType" "CommandType" NOT NULL,
  "requestId" TEXT NOT NULL,
  payload JSONB NOT NULL,
  status "OutboxStatus" NOT NULL DEFAULT 'PENDING',
  attempts INTEGER NOT NULL DEFAULT 0,
  "lockedBy" TEXT, "lockedAt" TIMESTAMPTZ,
  "submittedAt" TIMESTAMPTZ,
  "fabricTxId" TEXT,
  "commitBlock" BIGINT,
  "errorCode" TEXT, error TEXT,
  "createdAt" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
  -- New: the Kafka key (see schemas/routing.py). Filled by the SDK, or derived by the trigger below.
  "partitionKey" TEXT NOT NULL,
  -- New: traces a command across services; optional.
  "correlationId" TEXT,
  -- Debezium's outbox router expands the payload into a structured value; anything but a JSON
  -- object (an array, a string) would fail that expansion and stop capture for every later row.
  -- Refused here, at the door, with the constraint's name in the error.
  CONSTRAINT "OutboxCommand_payload_is_object" CHECK (jsonb_typeof(payload) = 'object')
);
CREATE UNIQUE INDEX "OutboxCommand_tenantId_requestId_key" ON "OutboxCommand"("tenantId", "requestId");
CREATE INDEX "OutboxCommand_status_createdAt_idx" ON "OutboxCommand"(status, "createdAt");

-- The same rule as schemas.routing.ROUTES (a test keeps them in agreement). A payload without its
-- key field (a malformed row written by raw SQL) is keyed by the row id: it still reaches Kafka,
-- where the submitter dead-letters it.
CREATE FUNCTION gx_partition_key(ct "CommandType", payload JSONB, fallback TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
  SELECT COALESCE(CASE ct
    WHEN 'BOOTSTRAP_SYSTEM' THEN 'system'
    WHEN 'INITIALIZE_COUNTRY' THEN 'system'
    WHEN 'UPDATE_SYSTEM_PARAMETER' THEN 'system'
    WHEN 'PAUSE_SYSTEM' THEN 'system'
    WHEN 'RESUME_SYSTEM' THEN 'system'
    WHEN 'APPOINT_ADMIN' THEN 'system'
    WHEN 'ACTIVATE_TREASURY' THEN 'system'
    WHEN 'CREATE_USER' THEN payload->>'userId'
    WHEN 'DISTRIBUTE_GENESIS' THEN payload->>'userId'
    WHEN 'TRANSFER_TOKENS' THEN payload->>'fromWalletId'
    WHEN 'FREEZE_WALLET' THEN payload->>'walletId'
    WHEN 'UNFREEZE_WALLET' THEN payload->>'walletId'
    WHEN 'PROPOSE_ORGANIZATION' THEN payload->>'orgId'
    WHEN 'ENDORSE_MEMBERSHIP' THEN payload->>'orgId'
    WHEN 'ACTIVATE_ORGANIZATION' THEN payload->>'orgId'
    WHEN 'DEFINE_AUTH_RULE' THEN payload->>'orgId'
    WHEN 'INITIATE_MULTISIG_TX' THEN payload->>'orgId'
    WHEN 'APPROVE_MULTISIG_TX' THEN payload->>'orgId'
    WHEN 'EXECUTE_MULTISIG_TX' THEN payload->>'orgId'
    WHEN 'APPLY_FOR_LOAN' THEN payload->>'loanId'
    WHEN 'APPROVE_LOAN' THEN payload->>'loanId'
    WHEN 'SUBMIT_PROPOSAL' THEN payload->>'proposalId'
    WHEN 'CAST_VOTE' THEN payload->>'proposalId'
    WHEN 'EXECUTE_PROPOSAL' THEN payload->>'proposalId'
    WHEN 'APPLY_VELOCITY_TAX' THEN payload->>'walletId'
  END, fallback)
$$;

CREATE FUNCTION gx_outbox_fill_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW."partitionKey" IS NULL THEN
    NEW."partitionKey" := gx_partition_key(NEW."commandType", NEW.payload, NEW.id);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER "OutboxCommand_fill_key" BEFORE INSERT ON "OutboxCommand"
  FOR EACH ROW EXECUTE FUNCTION gx_outbox_fill_key();

-- Written by Debezium's heartbeat.action.query and captured like the outbox (same publication), so
-- the connector processes an event, commits its offset and lets the replication slot advance while
-- the outbox is idle (see connectors/outbox.yaml). Old rows are deleted by the same query.
CREATE TABLE gx_cdc_heartbeat (id BIGSERIAL PRIMARY KEY, ts TIMESTAMPTZ NOT NULL DEFAULT now());
