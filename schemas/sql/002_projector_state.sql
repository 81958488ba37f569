-- Projection checkpoints: the old (lastBlock, lastEventIndex) per projector and channel, extended
-- with the Kafka position. One row per (projector, topic, partition); the projector writes it in
-- the same transaction as its read-model change, and on start seeks to "offset" + 1.
CREATE TABLE "ProjectorState" (
  "tenantId" TEXT NOT NULL DEFAULT '*',
  "projectorName" TEXT NOT NULL,
  channel TEXT NOT NULL,
  topic TEXT NOT NULL,
  "partition" INTEGER NOT NULL,
  "offset" BIGINT NOT NULL,
  "lastBlock" BIGINT NOT NULL,
  "lastEventIndex" INTEGER NOT NULL,
  "updatedAt" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY ("tenantId", "projectorName", channel, topic, "partition")
);
