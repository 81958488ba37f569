-- DISTRIBUTE_GENESIS is keyed by the genesis pool's shard it debits (schemas.routing.shard_of: the
-- first byte of SHA-256 of the recipient's id, modulo 16), so a burst of distributions never
-- conflicts on the pool. The rule for rows the old system inserts by raw SQL follows (a test keeps
-- the two in agreement, on the real database too). Every other type keeps its key.
CREATE OR REPLACE FUNCTION gx_partition_key(ct "CommandType", payload JSONB, fallback TEXT) RETURNS TEXT
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
    WHEN 'DISTRIBUTE_GENESIS' THEN 'genesis-' || (get_byte(sha256(convert_to(payload->>'userId', 'UTF8')), 0) % 16)::text
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
