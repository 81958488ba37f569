-- Where each command was on gx.commands and how each attempt went, written by the results writer
-- from the submitter's results, so `gxctl commands show REQUEST_ID` can tell a command's story
-- from one row.
ALTER TABLE "OutboxCommand"
  ADD COLUMN "kafkaPartition" INTEGER,
  ADD COLUMN "kafkaOffset" BIGINT,
  ADD COLUMN "validationCode" TEXT,
  ADD COLUMN "attemptLog" JSONB;
