"""Checks the repair in rappel_moto_server.py against moto itself (run by scripts/test.sh)."""

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

import rappel_moto_server

rappel_moto_server.install()


def create_table(name):
    """A client, and a table keyed like Rappel's (pk, sk)."""
    client = boto3.client("dynamodb", region_name="ca-central-1")
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


@pytest.fixture
def table():
    with mock_aws():
        yield create_table("t")


def key(sk):
    return {"pk": {"S": "clinic"}, "sk": {"S": sk}}


def item(client, sk):
    return client.get_item(TableName="t", Key=key(sk)).get("Item")


def test_a_cancelled_transaction_leaves_every_item_as_it_was(table):
    table.put_item(TableName="t", Item={**key("counter"), "n": {"N": "1"}})
    with pytest.raises(table.exceptions.TransactionCanceledException) as cancelled:
        table.transact_write_items(
            TransactItems=[
                {"Update": {"TableName": "t", "Key": key("counter"), "UpdateExpression": "ADD n :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                {"Put": {"TableName": "t", "Item": {**key("new"), "v": {"S": "x"}}}},
                {"ConditionCheck": {"TableName": "t", "Key": key("absent"),
                                    "ConditionExpression": "attribute_exists(pk)"}},
            ]
        )
    reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "ConditionalCheckFailed"]
    assert item(table, "counter")["n"] == {"N": "1"}
    assert item(table, "new") is None


def test_a_cancelled_transaction_keeps_other_items_written_since_the_table_was_created(table):
    table.put_item(TableName="t", Item={**key("other"), "v": {"S": "kept"}})
    with pytest.raises(table.exceptions.TransactionCanceledException):
        table.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": {**key("new"), "v": {"S": "x"}},
                         "ConditionExpression": "attribute_exists(pk)"}},
            ]
        )
    assert item(table, "other")["v"] == {"S": "kept"}


def test_a_transaction_that_succeeds_writes_every_item(table):
    table.transact_write_items(
        TransactItems=[{"Put": {"TableName": "t", "Item": {**key(f"k{i}"), "v": {"N": str(i)}}}} for i in range(3)]
    )
    assert [item(table, f"k{i}")["v"]["N"] for i in range(3)] == ["0", "1", "2"]


def test_a_cancelled_transaction_keeps_the_table_instead_of_a_copy(table):
    tables = dynamodb_backends[DEFAULT_ACCOUNT_ID]["ca-central-1"].tables
    before = tables["t"]
    with pytest.raises(table.exceptions.TransactionCanceledException):
        table.transact_write_items(
            TransactItems=[{"ConditionCheck": {"TableName": "t", "Key": key("absent"),
                                               "ConditionExpression": "attribute_exists(pk)"}}]
        )
    # moto put a copy made before the transaction in its place, undoing other requests' writes.
    assert tables["t"] is before


def test_a_query_returns_its_partition_in_order_and_nothing_else(table):
    for partition in ["a", "b", "c"]:
        for sk in ["3", "1", "2"]:
            table.put_item(TableName="t", Item={"pk": {"S": partition}, "sk": {"S": sk}})
    def query(**extra):
        answer = table.query(
            TableName="t",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "b"}},
            **extra,
        )
        return [(i["pk"]["S"], i["sk"]["S"]) for i in answer["Items"]]

    assert query() == [("b", "1"), ("b", "2"), ("b", "3")]
    assert query(ScanIndexForward=False) == [("b", "3"), ("b", "2"), ("b", "1")]
    assert query(Limit=2) == [("b", "1"), ("b", "2")]
    assert len(table.scan(TableName="t")["Items"]) == 9


def test_a_query_reads_only_its_partition():
    with mock_aws():
        client = create_table("q")
        client.put_item(TableName="q", Item={"pk": {"S": "mine"}, "sk": {"S": "1"}})
        client.put_item(TableName="q", Item={"pk": {"S": "other"}, "sk": {"S": "1"}})
        moto_table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["ca-central-1"].tables["q"]
        seen = []
        original = rappel_moto_server._moto_all_items

        def watched(self):
            seen.append("whole table")
            return original(self)

        rappel_moto_server._moto_all_items = watched
        try:
            answer = client.query(
                TableName="q",
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": "mine"}},
            )
        finally:
            rappel_moto_server._moto_all_items = original
        assert [i["pk"]["S"] for i in answer["Items"]] == ["mine"]
        # moto sorted the whole table for every query.
        assert seen == [] and moto_table.items


def test_concurrent_conditional_writes_on_one_item_take_turns(table):
    """DynamoDB applies each conditional write to an item alone; moto's server answers requests on
    several threads, and without the repair two compare-and-swaps could both pass their
    condition (two senders claiming one message, both sending it, both recording it sent)."""
    import sys
    import threading

    table.put_item(TableName="t", Item={**key("claim"), "v": {"N": "0"}})
    won = []
    previous_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as Python allows, to expose a race

    def swap_many():
        client = boto3.client("dynamodb", region_name="ca-central-1")
        for _ in range(40):
            seen = client.get_item(TableName="t", Key=key("claim"))["Item"]["v"]["N"]
            try:
                client.update_item(
                    TableName="t", Key=key("claim"), UpdateExpression="SET v = :next",
                    ConditionExpression="v = :seen",
                    ExpressionAttributeValues={":seen": {"N": seen}, ":next": {"N": str(int(seen) + 1)}},
                )
                won.append(seen)
            except client.exceptions.ConditionalCheckFailedException:
                pass

    try:
        threads = [threading.Thread(target=swap_many) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous_interval)
    final = int(item(table, "claim")["v"]["N"])
    assert sorted(won, key=int) == [str(n) for n in range(final)], "a value was swapped twice"
