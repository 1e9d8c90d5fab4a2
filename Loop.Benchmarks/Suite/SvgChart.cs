using System.Globalization;
using System.Security;
using System.Text;

namespace Loop.Benchmarks.Suite;

/// <summary>
/// A grouped bar chart as plain SVG text: one group of bars per scenario (a concurrency), one bar
/// per client in the same colour in every group, a y axis with round ticks, the value above each
/// bar, a whisker from the lowest to the highest repetition, and a legend. No packages, no
/// scripts, no fonts to load: any browser or <c>rsvg-convert</c> draws it.
/// </summary>
internal static class SvgChart
{
    private const int Top = 56;
    private const int Left = 72;
    private const int Right = 16;
    private const int PlotHeight = 300;
    private const int BarWidth = 22;
    private const int BarGap = 4;
    private const int GroupGap = 28;
    private const int LegendRowHeight = 18;

    // Colour-blind-safe (Okabe–Ito), in client order.
    private static readonly string[] s_palette = ["#000000", "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442"];

    /// <summary>
    /// Draws <paramref name="values"/>[group][series] (null: no bar) with the groups labelled by
    /// <paramref name="groups"/> and the bars by <paramref name="series"/>; <paramref name="ranges"/>,
    /// in the same shape, adds a min–max whisker to each bar; <paramref name="colours"/>, when
    /// given, picks each series' colour by its index in the palette (as in <see cref="RenderLines"/>).
    /// </summary>
    public static string Render(string title, string yLabel, IReadOnlyList<string> groups, IReadOnlyList<string> series, double?[][] values, (double Low, double High)?[][]? ranges = null, IReadOnlyList<int>? colours = null)
    {
        string Colour(int s) => s_palette[(colours is not null && s < colours.Count ? colours[s] : s) % s_palette.Length];
        double highest = values.SelectMany(g => g).Concat(ranges?.SelectMany(g => g).Select(r => r?.High) ?? []).Where(v => v is > 0).Select(v => v!.Value).DefaultIfEmpty(1).Max();
        double top = NiceCeiling(highest);
        int groupWidth = (series.Count * (BarWidth + BarGap)) - BarGap;
        int plotWidth = Math.Max(480, (groups.Count * (groupWidth + GroupGap)) + GroupGap);
        int width = Left + plotWidth + Right;
        int legendWidth = LegendColumnWidth(series);
        int legendColumns = Math.Max(1, (width - Left) / legendWidth);
        int legendRows = (series.Count + legendColumns - 1) / legendColumns;
        int height = Top + PlotHeight + 40 + (legendRows * LegendRowHeight) + 12;

        var svg = new StringBuilder();
        Append(svg, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">");
        Append(svg, $"<rect width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>");
        Append(svg, $"<text x=\"{width / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">{Escape(title)}</text>");
        DrawAxis(svg, top, plotWidth, yLabel);
        for (int g = 0; g < groups.Count; g++)
        {
            // Each group centred in an equal share of the plot's width.
            int slot = plotWidth / groups.Count;
            int groupLeft = Left + (g * slot) + ((slot - groupWidth) / 2);
            for (int s = 0; s < series.Count; s++)
            {
                double? value = s < values[g].Length ? values[g][s] : null;
                (double Low, double High)? range = ranges is not null && s < ranges[g].Length ? ranges[g][s] : null;
                DrawBar(svg, groupLeft + (s * (BarWidth + BarGap)), value, range, top, Colour(s));
            }

            Append(svg, $"<text x=\"{groupLeft + (groupWidth / 2)}\" y=\"{Top + PlotHeight + 18}\" text-anchor=\"middle\">{Escape(groups[g])}</text>");
        }

        DrawLegend(svg, series, legendColumns, legendWidth, Top + PlotHeight + 40, Colour);
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>
    /// Draws a line per series: <paramref name="values"/>[series][i] is the value of the
    /// <paramref name="step"/>-long interval i, plotted at its end; <paramref name="marker"/>,
    /// when given, draws a dashed vertical line at that x (e.g. the end of the first 3 s);
    /// <paramref name="colours"/>, when given, picks each series' colour by its index in the
    /// palette (so that a client keeps its colour from the bar chart).
    /// </summary>
    public static string RenderLines(string title, string xLabel, string yLabel, IReadOnlyList<string> series, double[][] values, double step, double? marker = null, IReadOnlyList<int>? colours = null)
    {
        string Colour(int s) => s_palette[(colours is not null && s < colours.Count ? colours[s] : s) % s_palette.Length];
        const int PlotWidth = 640;
        double highest = values.SelectMany(v => v).Where(v => v > 0).DefaultIfEmpty(1).Max();
        double top = NiceCeiling(highest);
        int points = values.Select(v => v.Length).DefaultIfEmpty(0).Max();
        double span = Math.Max(step, points * step);
        int width = Left + PlotWidth + Right;
        int legendWidth = LegendColumnWidth(series);
        int legendColumns = Math.Max(1, (width - Left) / legendWidth);
        int legendRows = (series.Count + legendColumns - 1) / legendColumns;
        int height = Top + PlotHeight + 56 + (legendRows * LegendRowHeight) + 12;
        double X(double seconds) => Left + (PlotWidth * seconds / span);

        var svg = new StringBuilder();
        Append(svg, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">");
        Append(svg, $"<rect width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>");
        Append(svg, $"<text x=\"{width / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">{Escape(title)}</text>");
        DrawAxis(svg, top, PlotWidth, yLabel);
        int tick = span > 20 ? 5 : 1;
        for (int second = 0; second <= span + 1e-9; second += tick)
        {
            Append(svg, $"<text x=\"{X(second):0.#}\" y=\"{Top + PlotHeight + 16}\" text-anchor=\"middle\">{second}</text>");
        }

        Append(svg, $"<text x=\"{Left + (PlotWidth / 2)}\" y=\"{Top + PlotHeight + 34}\" text-anchor=\"middle\">{Escape(xLabel)}</text>");
        if (marker is { } m && m < span)
        {
            Append(svg, $"<line x1=\"{X(m):0.#}\" y1=\"{Top}\" x2=\"{X(m):0.#}\" y2=\"{Top + PlotHeight}\" stroke=\"#888888\" stroke-dasharray=\"4,3\"/>");
            Append(svg, $"<text x=\"{X(m) + 4:0.#}\" y=\"{Top + 12}\" font-size=\"10\" fill=\"#555555\">{m:0.#} s</text>");
        }

        for (int s = 0; s < series.Count; s++)
        {
            if (values[s].Length == 0)
            {
                continue;
            }

            var path = new StringBuilder();
            for (int i = 0; i < values[s].Length; i++)
            {
                path.Append(CultureInfo.InvariantCulture, $"{(i == 0 ? "M" : "L")}{X((i + 1) * step):0.#},{Y(values[s][i], top):0.#}");
            }

            Append(svg, $"<path d=\"{path}\" stroke=\"{Colour(s)}\" stroke-width=\"2\" fill=\"none\"><title>{Escape(series[s])}</title></path>");
        }

        DrawLegend(svg, series, legendColumns, legendWidth, Top + PlotHeight + 56, Colour);
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>The smallest round number (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten) at or above <paramref name="value"/>: the top of the axis, divided into five ticks.</summary>
    internal static double NiceCeiling(double value)
    {
        double power = Math.Pow(10, Math.Floor(Math.Log10(value)));
        foreach (double step in new[] { 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0 })
        {
            if (step * power >= value)
            {
                return step * power;
            }
        }

        return 10 * power;
    }

    /// <summary>A rate as people read it on a chart: 950, 12.3k, 1.25M.</summary>
    internal static string Short(double value) => value switch
    {
        >= 1e6 => (value / 1e6).ToString(value >= 1e7 ? "0" : "0.0#", CultureInfo.InvariantCulture) + "M",
        >= 1e3 => (value / 1e3).ToString(value >= 1e5 ? "0" : "0.#", CultureInfo.InvariantCulture) + "k",
        _ => value.ToString("0", CultureInfo.InvariantCulture),
    };

    private static void DrawAxis(StringBuilder svg, double top, int plotWidth, string yLabel)
    {
        const int Ticks = 5;
        for (int i = 0; i <= Ticks; i++)
        {
            double value = top * i / Ticks;
            double y = Y(value, top);
            Append(svg, $"<line x1=\"{Left}\" y1=\"{y:0.#}\" x2=\"{Left + plotWidth}\" y2=\"{y:0.#}\" stroke=\"{(i == 0 ? "#333333" : "#dddddd")}\"/>");
            Append(svg, $"<text x=\"{Left - 6}\" y=\"{y + 4:0.#}\" text-anchor=\"end\">{Short(value)}</text>");
        }

        int middle = Top + (PlotHeight / 2);
        Append(svg, $"<text x=\"16\" y=\"{middle}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {middle})\">{Escape(yLabel)}</text>");
    }

    private static void DrawBar(StringBuilder svg, int x, double? value, (double Low, double High)? range, double top, string colour)
    {
        if (value is not { } v || double.IsNaN(v))
        {
            Append(svg, $"<text x=\"{x + (BarWidth / 2)}\" y=\"{Top + PlotHeight - 4}\" text-anchor=\"middle\" font-size=\"9\" fill=\"#888888\">n/a</text>");
            return;
        }

        double y = Y(v, top);
        Append(svg, $"<rect x=\"{x}\" y=\"{y:0.#}\" width=\"{BarWidth}\" height=\"{Top + PlotHeight - y:0.#}\" fill=\"{colour}\"><title>{Escape(Short(v))}</title></rect>");
        double labelY = y;
        if (range is { } r && r.High > r.Low)
        {
            // The whisker in grey over the bar, so it shows on the black bar too.
            double low = Y(r.Low, top);
            double high = Y(r.High, top);
            int middle = x + (BarWidth / 2);
            Append(svg, $"<path d=\"M{middle},{low:0.#}V{high:0.#}M{middle - 4},{low:0.#}h8M{middle - 4},{high:0.#}h8\" stroke=\"#999999\" stroke-width=\"1.5\" fill=\"none\"/>");
            labelY = Math.Min(y, high);
        }

        Append(svg, $"<text x=\"{x + (BarWidth / 2)}\" y=\"{labelY - 3:0.#}\" text-anchor=\"middle\" font-size=\"9\">{Escape(Short(v))}</text>");
    }

    // 180 px a legend column, wider for long names ("SimpleAsyncHttpClient, pooled body"): about 7 px a character at 12 px.
    private static int LegendColumnWidth(IReadOnlyList<string> series) => Math.Max(180, 30 + (7 * series.Select(s => s.Length).DefaultIfEmpty(0).Max()));

    private static void DrawLegend(StringBuilder svg, IReadOnlyList<string> series, int columns, int columnWidth, int top, Func<int, string> colour)
    {
        for (int s = 0; s < series.Count; s++)
        {
            int x = Left + ((s % columns) * columnWidth);
            int y = top + ((s / columns) * LegendRowHeight);
            Append(svg, $"<rect x=\"{x}\" y=\"{y}\" width=\"12\" height=\"12\" fill=\"{colour(s)}\"/>");
            Append(svg, $"<text x=\"{x + 18}\" y=\"{y + 10}\">{Escape(series[s])}</text>");
        }
    }

    private static double Y(double value, double top) => Top + PlotHeight - (PlotHeight * value / top);

    private static string Escape(string text) => SecurityElement.Escape(text) ?? string.Empty;

    private static void Append(StringBuilder svg, FormattableString line) => svg.Append(line.ToString(CultureInfo.InvariantCulture)).Append('\n');
}
