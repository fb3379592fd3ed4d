"""Mutation testing of the modules a user's result depends on most, with mutmut 3; `make mutation` runs it.

mutmut names a mutant after its file's path and finds which tests reach it through the function's
``__module__``; the source tree keeps ``engine/``, ``training/``, ... at its top while they import as
``cdgmvae.engine``, ... (pyproject.toml's package-dir), so the two would disagree. Each module group is
therefore staged in build/mutation/<group>/ in the installed layout (``cdgmvae/engine/codec.py``), its
package data and the tree's other folders linked in, with a pyproject.toml whose [tool.mutmut] names the
group's files and the fast tests that cover them. mutmut runs there, one group at a time, on the functions
the group names; the report (reports/mutation.md) is written from mutmut's results. Its hand-written
section of equivalent mutants (between the EQUIVALENT markers) is kept: an entry names a function and the
mutated line, so it still matches when mutmut renumbers the mutants of a changed file.

    python tools/mutation.py                 # every group, then the report
    python tools/mutation.py codec grammar   # some groups; the report keeps the others' last results
    python tools/mutation.py --report        # only rewrite the report from build/mutation/
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGE = ROOT / "build" / "mutation"
REPORT = ROOT / "reports" / "mutation.md"
PACKAGES = ("engine", "training", "bridge", "max4live")   # top-level folders that import as cdgmvae.<name>
TARGET = 0.8
TEST_TIMEOUT = 120   # seconds a test may take under mutation; the slowest of the groups' tests take about 20
BEGIN, END = "<!-- EQUIVALENT:BEGIN -->", "<!-- EQUIVALENT:END -->"


@dataclass(frozen=True)
class Group:
    """Files to mutate (source-tree paths), the functions of theirs to mutate (mutmut's mangled names,
    fnmatch patterns: ``x_encode`` for a function, ``xǁGeneratorǁtarget`` for a method; all when empty)
    and the pytest node ids that cover them."""
    name: str
    files: tuple[str, ...]
    tests: tuple[str, ...]
    functions: tuple[str, ...] = ()


def method(cls: str, *names: str) -> tuple[str, ...]:
    return tuple(f"xǁ{cls}ǁ{name}" for name in names)


GROUPS = (
    Group("codec", ("engine/codec.py",),
          ("tests/test_codec_tokens.py", "tests/test_codec.py::test_program_families_map_to_lpd5_tracks",
           "tests/test_codec.py::test_five_tracks_round_trip_on_the_grid",
           "tests/test_codec.py::test_tempo_change_at_a_bar_line_is_kept_and_inside_a_bar_moves",
           "tests/test_codec.py::test_other_time_signatures_are_rebarred_and_counted",
           "tests/test_codec.py::test_long_bars_are_cut_at_L_and_counted",
           "tests/test_codec.py::test_file_without_notes_raises",
           "tests/test_midi_reader.py::test_type_2_patterns_start_at_the_bar_line_after_the_previous_pattern",
           "tests/test_midi_reader.py::test_other_impossible_meta_events_are_skipped_and_counted")),
    Group("grammar", ("engine/grammar.py",),
          ("tests/test_grammar_rules.py", "tests/test_grammar.py::test_a_position_offers_a_pitch_once_per_track",
           "tests/test_grammar.py::test_pitches_outside_a_tracks_range_are_never_offered")),
    Group("generator control and transfer", ("engine/generator.py", "engine/controls.py", "engine/emotion.py"),
          ("tests/test_generator_controls.py",
           "tests/test_prior.py::test_live_transfer_with_the_bundled_prior_goes_on_as_played_at_lambda_0_and_leaves_it_at_1",
           "tests/test_prior.py::test_a_new_tonic_moves_the_key_of_a_keyed_prior_with_it",
           "tests/test_prior.py::test_live_transfer_continues_from_the_played_bars_latents_and_emotion"),
          method("Generator", "set_controls", "target", "next_bar", "_spread", "_choose", "position_of", "transfer",
                 "transferred_latents", "continue_from", "_next_bar_from_prior")
          + ("xǁControlsǁ*", "x_emotion_va", "x_nearest_emotion", "x_quadrant")),
    Group("trainer resume and selection", ("training/trainer.py",),
          ("tests/test_trainer_resume.py",),
          method("RunLog", "__init__", "_step") + ("x__check_resume", "x__save_selected", "x_build_state",
                                                    "x_evaluate", "x_checkpoint")),
    Group("scheduler timing", ("bridge/scheduler.py", "bridge/clock.py"),
          ("tests/test_scheduler_times.py", "tests/test_clock_timelines.py", "tests/bridge/test_link_clock_peers.py")),
    Group("device builders", ("max4live/make_patch.py", "max4live/make_tosc.py", "max4live/build.py"),
          ("tests/test_max4live.py", "tests/test_touchosc.py", "tests/test_device_builders.py")),
)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def module_of(path: str) -> str:
    """engine/codec.py -> cdgmvae.engine.codec (mutmut's key of a staged file)."""
    return "cdgmvae." + path.removesuffix(".py").replace("/", ".")


def patterns(group: Group) -> list[str]:
    """mutmut's mutant-name filters for a group: every mutant of its files, or of the named functions."""
    return [f"{module_of(path)}.{function}__mutmut_*" for path in group.files for function in group.functions or ("*",)]


def toml_list(items) -> str:
    return "[" + ", ".join(json.dumps(str(item)) for item in items) + "]"


def present_tests(group: Group) -> list[str]:
    """The group's tests whose files exist (a branch may not have them yet; the report says which are missing)."""
    return [test for test in group.tests if (ROOT / test.partition("::")[0]).is_file()]


def stage(group: Group, stage_dir: Path, tests: list[str]) -> None:
    """The installed layout with the group's config; mutants/ pre-linked to what mutmut does not copy."""
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    package = stage_dir / "cdgmvae"
    shutil.copytree(ROOT / "cdgmvae", package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    data_links = []
    for name in PACKAGES:
        for source in sorted((ROOT / name).rglob("*")):
            if "__pycache__" in source.parts or source.is_dir():
                continue
            target = package / name / source.relative_to(ROOT / name)
            if source.suffix == ".py":
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
            else:  # package data: mutmut copies .py files only, so the copy it tests in links to these
                data_links.append((source, stage_dir / "mutants" / target.relative_to(stage_dir)))
    # the tree's other folders (data/, models/, the committed max4live/ files tests read): linked
    for entry in sorted(ROOT.iterdir()):
        if entry.name.startswith(".") or entry.name in ("cdgmvae", "tests", "build", "pyproject.toml"):
            continue
        data_links.append((entry, stage_dir / "mutants" / entry.name))
    for source, link in data_links:
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(source)
    shutil.copytree(ROOT / "tests", stage_dir / "tests", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    config = "\n".join([
        "", "[tool.mutmut]",
        'source_paths = ["cdgmvae"]',
        f"only_mutate = {toml_list('cdgmvae/' + path for path in group.files)}",
        f"pytest_add_cli_args_test_selection = {toml_list(tests)}",
        # mutmut's own limit is on CPU time: a mutant that makes a test wait forever (a scheduler that never
        # stops, a wait for a bar that never comes) would hang the run. Such a test fails after TEST_TIMEOUT s.
        f'pytest_add_cli_args = ["-p", "no:cacheprovider", "-W", "ignore", "--timeout", "{TEST_TIMEOUT}"]',
        # the tests reach torch from forked workers; a fresh fork server per worker keeps them fork-safe
        'process_isolation = "forkserver"',
        "use_git_change_detection = false", "",
    ])
    (stage_dir / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + config)


def mutmut_command() -> list[str]:
    script = Path(sys.executable).parent / "mutmut"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from mutmut.__main__ import cli; cli()"]


def run_group(group: Group, jobs: int, max_minutes: float | None = None) -> None:
    stage_dir = STAGE / slug(group.name)
    tests = present_tests(group)
    if not tests:  # an empty selection would make pytest run the whole suite
        print(f"== {group.name}: none of its tests exist here ({', '.join(group.tests)}); skipped", file=sys.stderr)
        return
    stage(group, stage_dir, tests)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)   # the staged package, not the tree's, must be the one imported
    started = time.monotonic()
    print(f"== {group.name}: mutmut in {stage_dir.relative_to(ROOT)}", flush=True)
    # its own session, so that a time limit stops mutmut's workers and fork server with it
    process = subprocess.Popen(mutmut_command() + ["run", "--max-children", str(jobs), *patterns(group)],
                               cwd=stage_dir, env=env, start_new_session=True)
    try:
        returncode = process.wait(timeout=max_minutes * 60 if max_minutes else None)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()
        returncode = 0   # stopped on purpose: the report counts the mutants not run
        print(f"{group.name}: stopped after {max_minutes:g} min", file=sys.stderr)
    seconds = time.monotonic() - started
    (stage_dir / "run.json").write_text(json.dumps({"seconds": seconds, "returncode": returncode,
                                                     "jobs": jobs, "tests": tests}))
    if returncode:
        print(f"mutmut exited with {returncode} for {group.name}", file=sys.stderr)


def dump_results() -> None:
    """Run in a stage folder (mutmut reads its config from the cwd): each mutant's status and mutated lines."""
    from fnmatch import fnmatch

    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.file_utils import walk_mutatable_files

    wanted = json.loads(sys.argv[sys.argv.index("--dump") + 1])
    out = []
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        for name, code in sorted(data.exit_code_by_key.items(), key=lambda kv: natural(kv[0])):
            if not any(fnmatch(name, pattern) for pattern in wanted):
                continue
            status = status_by_exit_code[code]
            lines = []
            if status != "killed":
                diff = get_diff_for_mutant(name, path=path).splitlines()
                lines = [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]
            out.append({"name": name, "status": status, "diff": lines})
    json.dump(out, sys.stdout)


def natural(name: str) -> tuple:
    head, _, number = name.rpartition("__mutmut_")
    return head, int(number) if number.isdigit() else 0


def results(group: Group) -> tuple[list[dict], dict] | None:
    stage_dir = STAGE / slug(group.name)
    if not (stage_dir / "run.json").is_file():
        return None
    env = {**os.environ}
    env.pop("PYTHONPATH", None)
    dumped = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--dump", json.dumps(patterns(group))],
                            cwd=stage_dir, env=env, capture_output=True, text=True, check=True)
    return json.loads(dumped.stdout), json.loads((stage_dir / "run.json").read_text())


# an equivalent mutant in the hand-written section: - `function` `mutated line`: why
ENTRY = re.compile(r"^- `(?P<function>[^`]+)` `(?P<line>[^`]+)`:")


def equivalents(section: str) -> set[tuple[str, str]]:
    return {(m["function"], m["line"].strip()) for m in map(ENTRY.match, section.splitlines()) if m}


def function_of(name: str) -> str:
    """cdgmvae.engine.codec.x_encode__mutmut_3 -> cdgmvae.engine.codec.x_encode"""
    return name.partition("__mutmut_")[0]


def mutated_line(entry: dict) -> str:
    added = [line[1:].strip() for line in entry["diff"] if line.startswith("+")]
    return " / ".join(added) if added else "(line removed) " + " / ".join(
        line[1:].strip() for line in entry["diff"] if line.startswith("-"))


def report(section: str) -> str:
    known = equivalents(section)
    rows, details, used = [], [], set()
    for group in GROUPS:
        found = results(group)
        if found is None:
            rows += [f"| `{path}` | {group.name} | not run | | | | | | |" for path in group.files]
            continue
        mutants, run = found
        details.append(f"### {group.name}\n")
        details.append("Functions: " + (", ".join(f"`{f}`" for f in group.functions) if group.functions else "all")
                       + ".\n\nTests: " + ", ".join(f"`{test}`" for test in run["tests"])
                       + "".join(f" (missing: `{t}`)" for t in group.tests if t not in run["tests"])
                       + f".\n\nRun time: {run['seconds'] / 60:.1f} min.\n")
        for path in group.files:
            mine = [entry for entry in mutants if entry["name"].startswith(module_of(path) + ".")]
            unchecked = sum(entry["status"] == "not checked" for entry in mine)   # a run stopped early
            detected = sum(entry["status"] in ("killed", "timeout") for entry in mine)
            survivors = [entry for entry in mine if entry["status"] not in ("killed", "timeout", "not checked")]
            keys = {entry["name"]: (function_of(entry["name"]), mutated_line(entry)) for entry in survivors}
            equivalent = [name for name, key in keys.items() if key in known]
            used |= {keys[name] for name in equivalent}
            total, scored = len(mine), len(mine) - len(equivalent)
            score = detected / total if total else 1.0
            adjusted = detected / scored if scored else 1.0
            verdict = "met" if score >= TARGET else "NOT met"
            if run["returncode"]:
                verdict = f"mutmut failed (exit {run['returncode']})"
            if unchecked:
                verdict = f"incomplete: {unchecked} not run"
            rows.append(f"| `{path}` | {group.name} | {detected} | {total} | {100 * score:.1f} % | {len(equivalent)} "
                        f"| {100 * adjusted:.1f} % | {verdict} "
                        f"| {run['seconds'] / 60:.1f} min |")
            details.append(f"`{path}`: " + ("no survivors" if not survivors else f"{len(survivors)} survivors")
                           + (f" ({unchecked} mutants not run: the run was stopped)" if unchecked else "")
                           + (":" if survivors else "."))
            for entry in survivors:
                verdict = "equivalent, below" if entry["name"] in equivalent else entry["status"]
                details.append(f"- `{entry['name']}` ({verdict}): `{mutated_line(entry)}`")
            details.append("")
    stale = sorted(known - used)
    stale_text = ("\n\nEntries below that match no surviving mutant now (fixed, renumbered or killed):\n"
                  + "\n".join(f"- `{f}` `{line}`" for f, line in stale)) if stale else ""
    return "\n".join([
        "# Mutation testing",
        "",
        "Written by `make mutation` (tools/mutation.py, mutmut "
        f"{mutmut_version()}); do not edit by hand except between the EQUIVALENT markers.",
        "Killed counts timeouts as killed (a mutant that makes a test hang is caught). The score is killed / "
        f"total; the target is {TARGET:.0%} per module. \"Without equivalents\" leaves the listed equivalent "
        "mutants out of the total. Run time is the group's (its modules run together), wall clock on this "
        f"machine with {run_jobs()} mutmut workers.",
        "",
        f"All groups took {total_minutes():.0f} min.",
        "",
        "| module | group | killed | total | score | equivalent | without equivalents | target | run time |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "## Survivors",
        "",
        *details,
        "## Equivalent mutants",
        "",
        "Hand-written; an entry is `- \\`function\\` \\`mutated line\\`: why`, matched against each survivor's "
        "function and mutated line." + stale_text,
        "",
        BEGIN,
        section.strip("\n"),
        END,
        "",
    ])


def mutmut_version() -> str:
    from importlib.metadata import version
    return version("mutmut")


def total_minutes() -> float:
    return sum(json.loads((STAGE / slug(g.name) / "run.json").read_text())["seconds"]
               for g in GROUPS if (STAGE / slug(g.name) / "run.json").is_file()) / 60


def run_jobs() -> str:
    jobs = {json.loads((STAGE / slug(g.name) / "run.json").read_text())["jobs"]
            for g in GROUPS if (STAGE / slug(g.name) / "run.json").is_file()}
    return "/".join(map(str, sorted(jobs))) or "?"


def kept_section() -> str:
    if not REPORT.is_file():
        return ""
    text = REPORT.read_text()
    if BEGIN not in text or END not in text:
        return ""
    return text.split(BEGIN, 1)[1].split(END, 1)[0]


def main() -> int:
    if "--dump" in sys.argv:
        dump_results()
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", help="group names (slugs work too); default: all")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("MUTATION_JOBS", "2")),
                        help="mutmut workers (default 2, or $MUTATION_JOBS)")
    parser.add_argument("--report", action="store_true", help="only write the report from the last runs")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop a group's run after this long; the report counts its mutants not run")
    args = parser.parse_args()
    chosen = [g for g in GROUPS if not args.groups or g.name in args.groups or slug(g.name) in args.groups]
    if args.groups and not chosen:
        parser.error(f"no group named {args.groups}; groups: {', '.join(slug(g.name) for g in GROUPS)}")
    if not args.report:
        for group in chosen:
            run_group(group, args.jobs, args.max_minutes)
    section = kept_section()
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(report(section))
    print(f"wrote {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
