using BenchmarkDotNet.Running;
using Loop.Benchmarks.Embedding;
using Loop.Benchmarks.Suite;

namespace Loop.Benchmarks;

/// <summary>
/// <c>demo</c> runs a short tour of the loop; <c>suite …</c> the load comparison against nginx
/// (<see cref="SuiteCommand"/>, what <c>make bench</c> runs); <c>bench-client --client KIND</c>
/// is one .NET client of that comparison in a process of its own, driven by the suite;
/// <c>bench-startup --client KIND --url BASE</c> is one fresh client of the start-up measurement
/// (<see cref="StartupProbe"/>);
/// <c>embed …</c> the embedding benchmark (<see cref="EmbedCommand"/>, what <c>make bench-embed</c>
/// runs) and <c>embed-host …</c> one host process of it (<see cref="EmbeddingHost"/>);
/// <c>soak</c> the resource soak (<see cref="SoakRunner"/>, what <c>make soak</c> runs);
/// anything else is handed to BenchmarkDotNet (<c>--filter '*'</c>, <c>--job short</c>, …).
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        // The start-up measurement counts from the process's start: nothing before this line.
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        if (args.Length > 0 && args[0] == "bench-startup")
        {
            return StartupProbe.Serve(args[1..], started);
        }

        if (args.Length > 0 && args[0] == "demo")
        {
            return Demo.Run();
        }

        if (args.Length > 0 && args[0] == "suite")
        {
            return SuiteCommand.Run(args[1..]);
        }

        if (args.Length > 0 && args[0] == "bench-client")
        {
            return ChildProcessClient.Serve(args[1..]);
        }

        if (args.Length > 0 && args[0] == "embed")
        {
            return EmbedCommand.Run(args[1..]);
        }

        if (args.Length > 0 && args[0] == "embed-host")
        {
            return EmbedCommand.Serve(args[1..]);
        }

        if (args.Length > 0 && args[0] == "soak")
        {
            return SoakRunner.Run(args[1..]);
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
