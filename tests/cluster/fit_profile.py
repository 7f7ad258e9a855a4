"""Copy a Snakemake profile, shrinking its requests to fit the test node.

    python fit_profile.py SRC_PROFILE_DIR DST_PROFILE_DIR CPUS MEM_MB [key=value ...]
    -> DST_PROFILE_DIR/config.yaml and DST_PROFILE_DIR/set-threads.args

The copy keeps every setting of the source profile (executor, gres, retries, ...)
except that
  * set-threads and cpus_per_task are capped at CPUS,
  * mem_mb (a number or an expression such as "8000 * attempt") is capped at MEM_MB,
  * the extra key=value pairs (plain Snakemake profile keys) are added or replaced.
set-threads.args holds the resulting set-threads as `rule=N` words, for a local
reference run with the same threads (torch results may depend on them).
It prints what it changed, so the log shows how the test differs from the profile.
"""

import sys
from pathlib import Path

import yaml


def cap(value, limit):
    if isinstance(value, (int, float)):
        return min(value, limit)
    return f"min({value}, {limit})"  # a resource expression, evaluated per job


def main(src, dst, cpus, mem_mb, *extra):
    cpus, mem_mb = int(cpus), int(mem_mb)
    profile = yaml.safe_load((Path(src) / "config.yaml").read_text())
    changes = []
    for rule, threads in (profile.get("set-threads") or {}).items():
        profile["set-threads"][rule] = cap(threads, cpus)
        changes.append(f"set-threads {rule}: {threads} -> {profile['set-threads'][rule]}")
    sections = [("default-resources", profile.get("default-resources") or {})]
    sections += [
        (f"set-resources {rule}", res)
        for rule, res in (profile.get("set-resources") or {}).items()
    ]
    for name, res in sections:
        for key, limit in (("mem_mb", mem_mb), ("cpus_per_task", cpus)):
            if key in res and res[key] != "threads":
                old = res[key]
                res[key] = cap(old, limit)
                changes.append(f"{name} {key}: {old} -> {res[key]}")
    for item in extra:
        key, _, value = item.partition("=")
        profile[key] = yaml.safe_load(value)
        changes.append(f"{key}: {profile[key]}")
    Path(dst).mkdir(parents=True, exist_ok=True)
    (Path(dst) / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    (Path(dst) / "set-threads.args").write_text(
        " ".join(f"{r}={n}" for r, n in (profile.get("set-threads") or {}).items()) + "\n"
    )
    print(f"profile {src} -> {dst}:", *changes, sep="\n  ")


if __name__ == "__main__":
    main(*sys.argv[1:])
