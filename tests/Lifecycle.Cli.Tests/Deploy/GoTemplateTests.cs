namespace Lifecycle.Cli.Tests.Deploy;

/// <summary>The chart tests' template renderer does what Go's text/template and Helm do for the subset it supports.</summary>
public sealed class GoTemplateTests
{
    private static Dictionary<string, object?> Values(string yaml) =>
        new() { ["Values"] = GoTemplate.FromJson(DeployFiles.Yaml(yaml)), ["Release"] = new Dictionary<string, object?> { ["Name"] = "r" } };

    private static string Render(string template, string values = "a: 1") => GoTemplate.Parse(template).Render(Values(values));

    [Fact]
    public void TrimMarkers_RemoveTheWhitespaceOnTheirSide()
    {
        Assert.Equal("a:\n  x\nb", Render("a:\n  {{- \"\" }}\n  x\n{{- \"\" }}\nb"));
        Assert.Equal("ab", Render("a  {{- \"\" -}}  \n b"));
    }

    [Fact]
    public void IfElseIfElse_TakesTheFirstTrueBranch_WithGoTruth()
    {
        const string template = "{{ if .Values.s }}s{{ else if .Values.list }}list{{ else }}none{{ end }}";

        Assert.Equal("s", Render(template, "s: x"));
        Assert.Equal("list", Render(template, "s: ''\nlist: [1]"));
        Assert.Equal("none", Render(template, "s: ''\nlist: []"));
        Assert.Equal("none", Render(template, "{}"));
    }

    [Fact]
    public void Range_OverAList_AndAMapInKeyOrder_WithVariables()
    {
        Assert.Equal("[a][b]", Render("{{ range .Values.l }}[{{ . }}]{{ end }}", "l: [a, b]"));
        Assert.Equal("x=1;y=2;", Render("{{ range $k, $v := .Values.m }}{{ $k }}={{ $v }};{{ end }}", "m: { y: 2, x: 1 }"));
        Assert.Equal("r:a ", Render("{{ range .Values.l }}{{ $.Release.Name }}:{{ . }} {{ end }}", "l: [a]"));
    }

    [Fact]
    public void Gt_RefusesToCompareAValuesFloatWithAnInteger_AsHelmDoes_UntilIntConvertsIt()
    {
        Assert.Throws<FormatException>(() => Render("{{ if gt .Values.n 1 }}{{ end }}", "n: 2"));
        Assert.Equal("more", Render("{{ if gt (int .Values.n) 1 }}more{{ end }}", "n: 2"));
    }

    [Fact]
    public void AFieldOfAMissingMap_IsAnError_AndAMissingKeyPrintsNothing()
    {
        Assert.Throws<FormatException>(() => Render("{{ .Values.missing.key }}"));
        Assert.Equal("[]", Render("[{{ .Values.missing }}]"));
    }

    [Fact]
    public void ToYamlWithNindent_WritesSortedBlockYaml_AndDefaultAndQuoteWork()
    {
        Assert.Equal("k:\n  a: 1\n  b:\n  - x\n  - \"true\"", Render("k: {{- toYaml .Values.m | nindent 2 }}", "m: { b: [x, 'true'], a: 1 }"));
        Assert.Equal("r \"v\"", Render("{{ .Values.e | default .Release.Name }} {{ .Values.v | quote }}", "e: ''\nv: v"));
    }

    [Fact]
    public void Fail_AbortsWithItsMessage_AndUnsupportedConstructsThrow()
    {
        Assert.Equal("no", Assert.Throws<GoTemplate.FailException>(() => Render("{{ fail \"no\" }}")).Message);
        Assert.Throws<NotSupportedException>(() => Render("{{ include \"x\" . }}"));
        Assert.Throws<NotSupportedException>(() => Render("{{ with .Values }}{{ end }}"));
        Assert.Throws<FormatException>(() => Render("{{ if true }}unclosed"));
    }
}
