namespace Loop.Benchmarks; internal static class Program { private static void Main() { } }
