"""CI proves the README: .ci/run runs the README's commands verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_readme_has_install_and_test_commands():
    commands = readme_commands()
    assert len(commands) == 2
    assert "pip install" in commands[0] and "featx demo" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_exactly_the_readme_commands_in_order():
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    install, test = readme_commands()
    assert install in ci_lines and test in ci_lines
    assert ci_lines.index(install) < ci_lines.index(test)


# --------------------------------------------------------------------------- README's plans
# README's numbers are the planner's output: the reproduce table and the `featx plan` example.

NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in NUMBER.findall(text)]


#: A Parquet file's footer size is pyarrow's own: 4,070 bytes at 26, 5,057 at 15 (the floors).
FOOTER = re.compile(r"[\d,]+ per slide file")


def _same_figures(readme: str, planned: str, rel: float = 0.01) -> None:
    """Same words; numbers equal up to ``rel`` (store bytes move a little with pyarrow)."""
    readme, planned = (FOOTER.sub("# per slide file", t) for t in (readme, planned))
    assert NUMBER.sub("#", readme) == NUMBER.sub("#", planned)
    for ours, theirs in zip(_numbers(readme), _numbers(planned)):
        assert abs(ours - theirs) <= rel * max(abs(theirs), 1), (ours, theirs)


def _reproduce_table() -> dict[str, list[str]]:
    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `(crc-tissue|luad-expression|luad-mutation)` \|(.*)\|$", text, re.M)
    return {name: [cell.strip() for cell in cells.split("|")] for name, cells in rows}


def test_readme_reproduce_table_is_the_planners():
    from featx.embed.plan import duration_text
    from featx.reproduce.plan import EXPERIMENTS, plan_for, size_text

    table = _reproduce_table()
    assert list(table) == list(EXPERIMENTS)
    for name, (downloads, disk, expected, _) in table.items():
        plan = plan_for(name, small=False)  # a machine without the data folder downloads it all
        assert expected == duration_text(plan.seconds()), name
        _same_figures(disk, size_text(plan.disk_bytes))
        if name != "luad-mutation":  # "the same slides, weights and tiles"
            for _, size in plan.downloads:
                assert f"({size_text(size)})" in downloads, (name, size)
    slides = plan_for("luad-expression", small=False).cohort
    words = " ".join((ROOT / "README.md").read_text().split())
    assert f"{len(slides.slides)} primary-tumour TCGA-LUAD slides" in table["luad-expression"][0]
    assert f"{slides.n_tiles / len(slides.slides):,.0f} tiles per slide on average" in words


def test_readme_small_runs_expect_what_the_planner_expects(shared_data):
    from featx.embed.plan import duration_text
    from featx.reproduce.plan import plan_for

    for name, cells in _reproduce_table().items():
        expected, measured = (part.strip() for part in cells[3].split("/"))
        plan = plan_for(name, small=True, data_dir=shared_data)
        assert expected == duration_text(plan.seconds()), name


def test_readme_plan_example_is_featx_plans_output():
    from featx.downloads.manifests import find_manifest
    from featx.embed.plan import plan_cohort, plan_rates
    from featx.wsi.tiling import TileSpec

    text = (ROOT / "README.md").read_text()
    command = "featx plan tcga_luad_slides --tile-mpp 0.25 --gpu-rate 1000 --gpus 4"
    assert command in text
    example = re.search(r"\*\*Plan first\.\*\*.*?```text\n(.*?)\n```", text, re.S).group(1)
    plan = plan_cohort(find_manifest("tcga_luad_slides"), spec=TileSpec(tile_mpp=0.25),
                       rates=plan_rates("IMGNET-2048", gpu_rate=1000, gpus=4))
    _same_figures(example, plan.summary())
