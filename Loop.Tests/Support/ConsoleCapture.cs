namespace Loop.Tests.Support;

/// <summary>Runs a command's entry point with stdout or stderr captured (the benchmark commands print their usage and errors there).</summary>
public static class ConsoleCapture
{
    /// <summary>Runs <paramref name="run"/> with <see cref="Console.Error"/> captured; returns its exit code and what it wrote there.</summary>
    public static (int ExitCode, string Text) Error(Func<int> run) => Capture(run, Console.Error, Console.SetError);

    /// <summary>Runs <paramref name="run"/> with <see cref="Console.Out"/> captured; returns its exit code and what it wrote there.</summary>
    public static (int ExitCode, string Text) Out(Func<int> run) => Capture(run, Console.Out, Console.SetOut);

    private static (int ExitCode, string Text) Capture(Func<int> run, TextWriter original, Action<TextWriter> redirect)
    {
        var captured = new StringWriter();
        redirect(captured);
        try
        {
            int code = run();
            return (code, captured.ToString());
        }
        finally
        {
            redirect(original);
        }
    }
}
