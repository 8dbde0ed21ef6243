"""The documentation stays true where that is cheap to check: every link leads to a file of this repository,
every command-line example names a subcommand that exists, and no page quotes a test count (they go stale)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *ROOT.glob("docs/*.md"), *ROOT.glob("docs/examples/*/README.md")])
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_every_relative_link_leads_to_a_file_of_the_repository():
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+://", target) or target.startswith("mailto:"):
                continue
            path = (page.parent / target).resolve()
            if not path.exists() or ROOT.resolve() not in path.parents and path != ROOT.resolve():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_no_page_quotes_a_test_count():
    stale = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in PAGES for m in re.finditer(r"\b\d[\d,]* (?:tests|passed)\b", p.read_text(encoding="utf-8"))]
    assert stale == []


def test_every_autopipe_command_in_the_pages_exists():
    from autopipe_core.cli.parser import COMMANDS

    blocks = [b for p in PAGES for b in re.findall(r"```[a-z]*\n(.*?)```", p.read_text(encoding="utf-8"), re.S)]
    used = {m.group(1) for b in blocks for m in re.finditer(r"(?m)^\s*(?:\$ )?autopipe ([a-z]+)\b", b)}
    assert used and used <= set(COMMANDS), used - set(COMMANDS)


def test_the_makefile_lets_the_user_choose_the_pytorch_build():
    import shutil
    import subprocess

    make = shutil.which("make")
    assert make, "make is needed for the README's commands"
    plan = subprocess.run([make, "-n", "-B", "setup", "TORCH_INDEX=https://download.pytorch.org/whl/cu128"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert '--index-url https://download.pytorch.org/whl/cu128 "torch==2.13.0"' in plan
    default = subprocess.run([make, "-n", "-B", "setup"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert re.search(r'pip install --quiet +"torch==2.13.0"', default) and "--index-url" not in default
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "TORCH_INDEX=" in readme
