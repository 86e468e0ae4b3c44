"""`tongban audit verify FILE --directory KEYS.json`: check an audit receipt, a checkpoint or a consistency
proof between two checkpoints offline, against the seal public key directory (`tongban licence
export-directory`). No database, no configuration. Exit 0 when it holds, 1 when not, 2 on a usage error."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tongban audit verify", description="离线核验数据共享审计日志")
    parser.add_argument("file", help="receipt, checkpoint or consistency proof (.json), or - for stdin")
    parser.add_argument(
        "--directory", default="tongban-seal-directory.json", help="seal public key directory"
    )
    parser.add_argument("--operator", default="", help="department code that must have signed (e.g. sjj)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    from tongban.licences.offline import _configure

    _configure()
    from tongban.licences.verify import KeyDirectory

    from .verify import check_any

    try:
        directory = KeyDirectory.from_json(Path(args.directory).read_text(encoding="utf-8"))
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
        bundle = json.loads(text)
    except (OSError, ValueError) as exc:
        print(f"tongban audit verify: {exc}", file=sys.stderr)
        return 2
    kind, problem = check_any(bundle, directory, operator=args.operator)
    if args.json:
        print(json.dumps({"kind": kind, "valid": not problem, "reason": problem}, ensure_ascii=False))
    elif problem:
        print(f"无效 ({kind}): {problem}")
    else:
        checkpoint = bundle.get("checkpoint") or bundle.get("second") or bundle
        key = directory.keys[checkpoint["key_id"]]
        what = {
            "receipt": f"记录 #{bundle.get('index')} 在日志中",
            "consistency": "两个检查点一致",
            "checkpoint": "检查点签名有效",
        }[kind]
        print(
            f"有效 ({kind}): {what}；检查点 {checkpoint['tree_size']} 条，{key.department_name}签名于 {checkpoint['signed_at']}"
        )
    return 1 if problem else 0
