"""`jobtrail keys`: create, list and revoke API keys."""

import argparse

from service.auth.keys import DEFAULT_SCOPES, Scope, create_key, list_keys, revoke_key
from service.cli.subcommand import add, owner_name
from service.settings import Settings
from service.store.database import connected


class UnknownKey(Exception):
    pass


async def create_command(args: argparse.Namespace) -> int:
    scopes = tuple(Scope(s) for s in args.scopes) if args.scopes else DEFAULT_SCOPES
    async with connected(Settings.from_env()) as pool, pool.connection() as conn:
        key = await create_key(conn, args.owner, scopes)
    print(key)
    print(f"(owner {args.owner}, scopes {' '.join(scopes)}; shown once, stored only as a hash)")
    return 0


async def list_command(args: argparse.Namespace) -> int:
    async with connected(Settings.from_env()) as pool, pool.connection() as conn:
        keys = await list_keys(conn)
    print(f"{'key id':<14} {'owner':<20} {'scopes':<34} {'created':<20} revoked")
    for k in keys:
        revoked = k.revoked_at.strftime("%Y-%m-%d %H:%M") if k.revoked_at else ""
        print(f"{k.key_id:<14} {k.owner:<20} {' '.join(k.scopes):<34} {k.created_at:%Y-%m-%d %H:%M}     {revoked}")
    return 0


async def revoke_command(args: argparse.Namespace) -> int:
    async with connected(Settings.from_env()) as pool, pool.connection() as conn:
        if not await revoke_key(conn, args.key_id):
            raise UnknownKey(f"no active key with id '{args.key_id}' (see `jobtrail keys list`)")
    print(f"revoked {args.key_id}")
    return 0


def register(subparsers) -> None:
    keys = subparsers.add_parser(
        "keys",
        help="manage API keys",
        description="Create, list and revoke API keys.\n\nexample:\n  jobtrail keys create --owner acme",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = keys.add_subparsers(title="actions", required=True, metavar="ACTION")
    create = add(
        actions,
        "create",
        create_command,
        "create a key and print it (once)",
        "Create an API key for an owner. The key is printed once and stored only as a hash.\n"
        "Scopes: jobs:write, jobs:read (the default pair), audit:read (every owner's histories).\n\n"
        "example:\n  jobtrail keys create --owner acme --scopes jobs:read jobs:write",
    )
    create.add_argument("--owner", required=True, type=owner_name, help="the tenant the key acts for")
    create.add_argument("--scopes", nargs="+", choices=[str(s) for s in Scope], help="what the key may do")
    add(actions, "list", list_command, "list keys (never their secrets)", "example:\n  jobtrail keys list")
    revoke = add(
        actions, "revoke", revoke_command, "revoke a key at once", "example:\n  jobtrail keys revoke 3f9a1c2b7d4e"
    )
    revoke.add_argument("key_id", help="the key's id, as `jobtrail keys list` shows it")
