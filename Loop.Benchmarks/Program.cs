using BenchmarkDotNet.Running;

namespace Loop.Benchmarks;

/// <summary>
/// <c>demo</c> runs a short tour of the loop; <c>load --url …</c> the HTTP load comparison
/// (<see cref="LoadRunner"/>); <c>soak</c> the resource soak
/// (<see cref="SoakRunner"/>); anything else is handed to BenchmarkDotNet (<c>--filter '*'</c>,
/// <c>--job short</c>, …).
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "demo")
        {
            return Demo.Run();
        }

        if (args.Length > 0 && args[0] == "load")
        {
            return LoadRunner.Run(args[1..]);
        }

        if (args.Length > 0 && args[0] == "soak")
        {
            return SoakRunner.Run(args[1..]);
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
