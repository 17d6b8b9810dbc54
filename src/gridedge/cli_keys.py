"""`gridedge keys`: make and inspect the Ed25519 keys that sign grid commands (docs/bus.md).

    gridedge keys generate --private FILE --public FILE [--kid TEXT] [--format pem|cose] [--source NAME]
    gridedge keys show FILE
    gridedge keys check-ring FILE

`generate` writes a new private key (PKCS#8 PEM, mode 0600, refused if the file exists) and its
public key (PEM, or a COSE_Key with `--format cose` or a `.cose` name), and prints the `[[key]]`
entry to add to the receivers' key ring file. `show` prints a key file's kid and thumbprint.
`check-ring` loads a key ring file as a receiver would and lists its keys, or names the bad field.

Exit status: 0 done, 2 usage or file errors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Literal

EXIT_OK = 0
EXIT_USAGE = 2


def add_keys_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "keys",
        help="generate and inspect the Ed25519 keys that sign grid commands",
        description="Generate and inspect command-signing keys and key ring files (docs/bus.md).",
    )
    sub = p.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")

    gen = sub.add_parser("generate", help="a new key pair: private PEM (0600) and public PEM or COSE_Key")
    gen.add_argument("--private", required=True, metavar="FILE", help="private key file to create (PEM)")
    gen.add_argument("--public", required=True, metavar="FILE", help="public key file to write")
    gen.add_argument("--kid", metavar="TEXT", help="key id (default: from the key's RFC 9679 thumbprint)")
    gen.add_argument(
        "--format", choices=("pem", "cose"), help="public key format (default: cose for *.cose, else pem)"
    )
    gen.add_argument(
        "--source", default="dso", metavar="NAME", help="source named in the printed key ring entry"
    )
    gen.add_argument("--force", action="store_true", help="overwrite an existing private key file")
    gen.set_defaults(func=cmd_generate, parser=gen)

    show = sub.add_parser("show", help="kid and thumbprint of a private or public key file")
    show.add_argument("file", metavar="FILE")
    show.set_defaults(func=cmd_show, parser=show)

    check = sub.add_parser("check-ring", help="load a key ring file and list its keys")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(func=cmd_check_ring, parser=check)


def _fail(msg: str) -> int:
    print(f"gridedge keys: {msg}", file=sys.stderr)
    return EXIT_USAGE


def _kid_text(kid: bytes) -> str:
    """The kid as the key ring file spells it: `kid = "text"` if printable, else `kid_hex`."""
    try:
        text = kid.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    if text and text.isprintable() and '"' not in text and "\\" not in text:
        return f'kid = "{text}"'
    return f'kid_hex = "{kid.hex()}"'


def cmd_generate(args: argparse.Namespace) -> int:
    from gridedge.bus.keyfile import KeyFileError, write_private_key, write_public_key
    from gridedge.bus.security import Signer

    fmt: Literal["pem", "cose"] = "cose" if Path(args.public).suffix in (".cose", ".cbor") else "pem"
    if args.format is not None:
        fmt = "cose" if args.format == "cose" else "pem"
    if Path(args.private).resolve() == Path(args.public).resolve():
        return _fail("--private and --public must be different files")
    if args.kid is not None and not args.kid:
        return _fail("--kid must not be empty")
    signer = Signer.generate(args.kid.encode() if args.kid else None)
    try:
        write_private_key(args.private, signer, overwrite=args.force)
        write_public_key(args.public, signer.public_key, signer.kid, fmt=fmt)
    except (KeyFileError, OSError) as exc:
        return _fail(str(exc))
    print(f"private key {args.private} (mode 0600), public key {args.public} ({fmt})", file=sys.stderr)
    print(
        "# add to the receivers' key ring file (set not_before/not_after to rotate):\n"
        f'[[key]]\nsource = "{args.source}"\n{_kid_text(signer.kid)}\npublic_key_file = "{args.public}"'
    )
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from gridedge.bus.keyfile import KeyFileError, load_public_key, load_signer
    from gridedge.bus.security import key_thumbprint

    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        return _fail(f"{args.file}: {exc.strerror or exc}")
    try:
        kid: bytes | None
        if b"PRIVATE KEY-----" in data:
            signer = load_signer(args.file)
            kind, kid, public = "private", signer.kid, signer.public_key
        else:
            got = load_public_key(args.file)
            kind, kid, public = "public", got.kid, got.public_key
    except KeyFileError as exc:
        return _fail(str(exc))
    print(f"{kind} Ed25519 key")
    print("kid: -" if kid is None else f"kid: {kid.hex()} ({_kid_text(kid)})")
    print(f"thumbprint (RFC 9679, SHA-256): {key_thumbprint(public).hex()}")
    return EXIT_OK


def cmd_check_ring(args: argparse.Namespace) -> int:
    from gridedge.bus.keyfile import KeyFileError, load_keyring

    try:
        ring = load_keyring(args.file)
    except KeyFileError as exc:
        return _fail(str(exc))
    for entry in ring:
        start = "-" if entry.not_before is None else entry.not_before.isoformat()
        end = "-" if entry.not_after is None else entry.not_after.isoformat()
        print(f"{entry.kid.hex()}  sources {','.join(sorted(entry.sources))}  valid {start} .. {end}")
    print(f"{len(ring)} key(s)", file=sys.stderr)
    return EXIT_OK
