namespace Loop.Fetch;

/// <summary>
/// <c>loop-fetch [options] URL…</c> fetches each URL and writes its body to stdout (Tornado's
/// <c>python -m tornado.httpclient</c>, with curl's habits for the flags Tornado lacks);
/// <c>loop-fetch --help</c> lists the options. With no arguments at all it runs the offline
/// demonstration (<see cref="Demo"/>).
/// </summary>
internal static class Program
{
    private static int Main(string[] args) => args.Length == 0 ? Demo.Run() : FetchCommand.Run(args);
}
