using BenchmarkDotNet.Running;

namespace Loop.Benchmarks;

/// <summary>
/// <c>demo</c> runs a short demonstration of the loop (what <c>make run</c> does); anything
/// else is handed to BenchmarkDotNet (<c>--filter '*'</c>, <c>--job short</c>, …).
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "demo")
        {
            return Demo.Run();
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
