"""moto's server, with three repairs: two let long test runs finish, one makes conditional writes
to an item atomic, as DynamoDB's are.

1. moto 5.2's ``transact_write_items`` deep-copies every table a transaction touches, once per
   item of the transaction, so that it can restore the whole table if the transaction is
   cancelled. Each save of Rappel writes a transaction, so a run of N saves copies the table N
   times: quadratic time and memory (runs of a few hundred appointments reached 5.7 GB and never
   finished). The restore also puts back the whole table, silently undoing other requests' writes
   made meanwhile. The repair keeps moto's own transaction code and changes only what a
   cancellation restores: the items the transaction named, as they were before it.

2. A ``Query`` on the table (not an index) sorts every item of the table, then keeps those of the
   partition asked for: each query costs the whole table. The repair hands moto's query code only
   that partition's items, in the same order; the result is the same list.

3. moto's server answers requests on several threads, and its DynamoDB reads an item, checks a
   condition and writes it back as separate steps: two conditional writes to one item could both
   pass (two senders claiming one message both won, both sent it, both recorded it sent). DynamoDB
   applies each write to an item alone. The repair answers one DynamoDB request at a time (other
   services still run in parallel).

What a client sees (results, cancellation reasons, the table after a cancellation) is unchanged.

Run as moto_server is: ``python rappel_moto_server.py -H 127.0.0.1 -p PORT``.
"""

import copy
import inspect
import sys
import threading

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_EXPECTED_MOTO = "5.2."


class _TableLeftInPlace:
    """What moto's backup step gets instead of a copy: the table itself, to be put back as is."""

    def __init__(self, table):
        self.table = table


class _CopyExceptTables:
    """The ``copy`` module as moto's transaction code sees it: tables are not copied."""

    @staticmethod
    def deepcopy(value, *args, **kwargs):
        if isinstance(value, Table):
            return _TableLeftInPlace(value)
        return copy.deepcopy(value, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(copy, name)


def _key_of(table, operation):
    attributes = operation.get("Item") or operation.get("Key") or {}
    hash_key = DynamoType(attributes[table.hash_key_attr])
    range_key = None
    if table.range_key_attr is not None:
        range_key = DynamoType(attributes[table.range_key_attr])
    return hash_key, range_key


def _items_before(backend, transact_items):
    """Each item the transaction names, as it is now (None when absent)."""
    before = []
    for request in transact_items:
        try:
            _, operation = next(iter(request.items()))
            table = backend.tables[operation["TableName"]]
            hash_key, range_key = _key_of(table, operation)
            item = table.get_item(hash_key, range_key)
        except Exception:
            continue  # a malformed operation fails in moto's own code, and writes nothing
        before.append((table, hash_key, range_key, copy.deepcopy(item)))
    return before


def _restore(before):
    # In reverse, so that an item named twice ends as it was first seen.
    for table, hash_key, range_key, item in reversed(before):
        if item is None:
            table.delete_item(hash_key, range_key)
        elif range_key is not None:
            table.items[hash_key][range_key] = item
        else:
            table.items[hash_key] = item


_moto_transact_write_items = DynamoDBBackend.transact_write_items


def _transact_write_items(self, transact_items):
    before = _items_before(self, transact_items)
    try:
        return _moto_transact_write_items(self, transact_items)
    except Exception:
        for name, table in list(self.tables.items()):
            if isinstance(table, _TableLeftInPlace):
                self.tables[name] = table.table
        _restore(before)
        raise


_moto_query = Table.query
_moto_all_items = Table.all_items
_query_signature = inspect.signature(_moto_query)
_partition_queried = threading.local()


def _query(self, *args, **kwargs):
    bound = _query_signature.bind(self, *args, **kwargs)
    on_table = bound.arguments.get("index_name") is None and self.range_key_attr is not None
    _partition_queried.hash_key = bound.arguments.get("hash_key") if on_table else None
    try:
        return _moto_query(self, *args, **kwargs)
    finally:
        _partition_queried.hash_key = None


def _all_items(self):
    """All items, as moto sorts them; during a query on the table, only the partition queried
    (moto's query keeps only those anyway)."""
    hash_key = getattr(_partition_queried, "hash_key", None)
    if hash_key is None:
        return _moto_all_items(self)
    partition = self.items[hash_key] if hash_key in self.items else {}
    return sorted(partition.values(), key=lambda item: (item.hash_key, item.range_key))


_dynamodb_alone = threading.Lock()
_moto_call_action = DynamoHandler.call_action


def _call_action_alone(self):
    with _dynamodb_alone:
        return _moto_call_action(self)


def install():
    """Replaces moto's table copies by item copies; refuses a moto this repair was not written for."""
    import moto

    if not moto.__version__.startswith(_EXPECTED_MOTO):
        sys.exit(f"rappel_moto_server: written for moto {_EXPECTED_MOTO}x, found {moto.__version__}")
    dynamodb_models.copy = _CopyExceptTables()
    DynamoDBBackend.transact_write_items = _transact_write_items
    Table.query = _query
    Table.all_items = _all_items
    DynamoHandler.call_action = _call_action_alone


if __name__ == "__main__":
    install()
    sys.exit(main())
