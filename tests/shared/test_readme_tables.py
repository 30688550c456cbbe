"""README table blocks: only the text between the markers is replaced; no markers, nothing written."""

from shared.readme_tables import END, START, write_between_markers


def test_replaces_only_the_marked_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{START}\nold table\n{END}\noutro\n")
    assert write_between_markers(readme, "| new |\n")
    assert readme.read_text() == f"intro\n{START}\n| new |\n{END}\noutro\n"


def test_missing_file_or_markers_write_nothing(tmp_path):
    assert not write_between_markers(tmp_path / "absent.md", "x")
    plain = tmp_path / "plain.md"
    plain.write_text("no markers\n")
    assert not write_between_markers(plain, "x") and plain.read_text() == "no markers\n"
