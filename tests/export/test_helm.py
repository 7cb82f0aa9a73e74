"""The Go-template subset renderer behind the plain manifest: Helm's semantics where the chart
relies on them, and a refusal (not a guess) for anything else."""

from pathlib import Path

import pytest

from streamer.export.helm import Context, TemplateError, render


def rendered(template: str, files: Path = Path("."), **values) -> str:
    return render(template, Context(values, "rel", {"appVersion": "1.0.0"}, files))


def test_trim_markers_eat_the_whitespace_on_their_side():
    assert rendered("a:\n  {{- 1 }}\nb") == "a:1\nb"
    assert rendered("a {{ 1 -}}\n  b") == "a 1b"


def test_if_else_follows_go_truth():
    template = "{{ if .Values.x }}yes{{ else }}no{{ end }}"
    assert [rendered(template, x=x) for x in ("", 0, [], {}, "a", 1, [0])] == [
        "no",
        "no",
        "no",
        "no",
        "yes",
        "yes",
        "yes",
    ]
    assert (
        rendered("{{ if .Values.a }}{{ if .Values.b }}1{{ else }}2{{ end }}{{ end }}", a=0, b=0)
        == ""
    )


def test_sprig_functions_as_helm_defines_them():
    assert rendered("{{ .Values.x | quote }}", x=8) == '"8"'
    assert rendered("{{ .Values.x | default .Chart.AppVersion }}", x="") == "1.0.0"
    assert rendered("k:{{ toYaml .Values.m | nindent 2 }}", m={"b": [1], "a": 2}) == (
        "k:\n  a: 2\n  b:\n  - 1"
    )
    assert rendered('{{ "x" | sha256sum }}') == (
        "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
    )
    assert rendered("{{ .Release.Name }}-{{ (.Values.x | default 3) }}", x=None) == "rel-3"
    assert rendered("{{ add .Values.x 30 }}", x=45) == "75"


def test_files_are_read_verbatim_so_their_braces_are_not_actions(tmp_path):
    (tmp_path / "f.json").write_text('{"legend": "{{touchpoint}}"}')
    assert rendered('{{ .Files.Get "f.json" }}', tmp_path) == '{"legend": "{{touchpoint}}"}'


@pytest.mark.parametrize(
    "template",
    ['{{ include "x" . }}', "{{ .Values.missing }}", "{{ .Values.m }}", "{{ if 1 }}", "{{ end }}"],
)
def test_anything_outside_the_subset_is_refused(template):
    with pytest.raises(TemplateError):
        rendered(template, m={"a": 1})
