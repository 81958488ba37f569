"""The HA topology (issue 34): three Raft orderers, two Org1 peers and one peer each of Org2 and
Org3, gxtv3 approved by the three organisations and committed under MAJORITY endorsement; the
Gateway of an Org1 peer collects a second organisation's endorsement itself."""

from __future__ import annotations

import base64
import json

from fabric_protos.peer import policy_pb2

from stack.fabric_ha import HaNet, node_state, raft_leader
from tests.integration.conftest import gxctl
from tests.integration.fabric_helpers import CC_ARGS, TENANT, funded_users, rid, wallet
from tests.integration.ha.helpers import HaStack, endorsing_msps
from tests.waiting import wait_until


def test_the_network_is_three_orderers_and_four_peers_of_three_organisations(ha: HaStack) -> None:
    rows = ha.stack_env
    assert rows["GX_FABRIC_MSP_ID"] == "Org1MSP"
    assert rows["GX_FABRIC_GATEWAY"].split(",")[0] == "127.0.0.1:26150"
    net = HaNet(ha.settings())
    for spec in net.peers:
        assert "gxchannel" in net.peer_on(spec, "channel", "list").split(), spec.name
    committed = json.loads(
        net.peer("lifecycle", "chaincode", "querycommitted", "-C", "gxchannel", "-n", "gxtv3", "--output", "json")
    )
    assert committed["approvals"] == {"Org1MSP": True, "Org2MSP": True, "Org3MSP": True}
    policy = policy_pb2.ApplicationPolicy.FromString(base64.b64decode(committed["validation_parameter"]))
    assert policy.channel_config_policy_reference == "/Channel/Application/Endorsement"  # MAJORITY Endorsement


async def test_a_command_commits_with_the_endorsements_of_two_organisations(ha: HaStack) -> None:
    f = ha.fabric(gateway=ha.stack_env["GX_FABRIC_GATEWAY"].split(",")[0])
    gw = f.connect()
    try:
        request_id = rid("ha")
        tx = await gw.endorse(*CC_ARGS, "AdminContract:BootstrapSystem", [TENANT, request_id])
        msps = endorsing_msps(tx.envelope)
        assert len(msps) == 2 and len(set(msps)) == 2 and "Org1MSP" in msps, msps
        await gw.submit(tx)
        status = await gw.commit_status(tx)
        assert status.code == "VALID" and status.block > 0
        answer = json.loads(tx.result)
        assert answer["requestId"] == request_id, answer
        # Applied, or (the pass's pipeline got there first) recorded as already done.
        assert answer.get("rejected", {"code": "ALREADY_EXISTS"})["code"] == "ALREADY_EXISTS", answer
        # Further commands through the same gateway commit too (users made, genesis paid).
        [alice, _] = await funded_users(gw, 2, amount=50)
        assert (await wallet(gw, alice))["balance"] == "50"
    finally:
        await gw.close()


def test_status_shows_every_nodes_height_and_one_raft_leader(ha: HaStack) -> None:
    def state() -> dict:
        return node_state(ha.settings())

    got = wait_until(
        state,
        "every node at the same height, one orderer the Raft leader",
        until=lambda s: raft_leader(s) is not None and len({v["height"] for v in s.values()}) == 1,
        timeout=30,
    )
    assert set(got) == {"orderer0", "orderer1", "orderer2", "peer0-org1", "peer1-org1", "peer0-org2", "peer0-org3"}
    assert next(iter(got.values()))["height"] > 1
    rows = {r["component"]: r for r in json.loads(gxctl("stack", "status", "--json", check=False, env=ha.env).stdout)}
    leaders = [n for n, r in rows.items() if r.get("raft_leader")]
    assert len(leaders) == 1 and leaders[0].startswith("orderer")
    assert all(rows[n]["height"] >= 1 for n in got)
