using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Loop.Fetch;

/// <summary>
/// The command line of <c>loop-fetch</c> (System.CommandLine): Tornado's six flags in both
/// spellings (<c>--print_headers</c> and <c>--print-headers</c>) and curl-like ones for the rest.
/// Every mistake becomes one line on stderr and exit code 2, never an exception.
/// </summary>
internal sealed class FetchCommand
{
    private const string Description = """
        Fetches each URL and writes its body to stdout (Tornado's python -m tornado.httpclient).
        Several URLs are fetched at once, on one IOLoop with one client; their output comes out in
        the order given: the first URL's streams as it arrives, the others' are held in temporary
        files until the ones before them are written.
        Bodies stream to stdout or the -o file with no size limit. Errors are one line on stderr.
        On a terminal, a transfer longer than a second shows a progress line on stderr (not with
        --json, nor while the body itself goes to the terminal).
        Exit codes: 0 a response for every URL (any status, unless --fail); 1 with --fail, a status
        that is not 2xx; 2 a usage error; 3 no response (refused, timeout, DNS, TLS, cut short) or
        an output that cannot be written.
        With several URLs, the highest.
        Tornado's booleans: --flag alone is true; --flag=VALUE is false for false, 0, f and no (any
        case) and true for anything else; --flag VALUE takes only true, false, t, f, yes, no, 1 and 0.
        Run with no arguments at all, it shows the clients at work against a server in the process.
        """;

    // Tornado reads a boolean flag's value as true unless it is one of these (options.py's
    // _parse_bool has false, 0 and f; no is here too, as people write it).
    private static readonly string[] s_falseWords = ["false", "0", "f", "no"];

    // The words that --flag VALUE (a separate token) takes as the flag's value; any other token
    // after a boolean flag is the next URL or option, as after a flag with no value.
    // Each reads the same by Tornado's rule as after "=", so both forms always agree.
    private static readonly string[] s_booleanWords = ["true", "false", "t", "f", "yes", "no", "1", "0"];

    private readonly Option<bool> _printHeaders = TornadoFlag("--print_headers", "Write the status line and the response headers before the body.");
    private readonly Option<bool> _printBody = TornadoFlag("--print_body", "Write the body (default true; --print_body=false for none).", defaultValue: true);
    private readonly Option<bool> _followRedirects = TornadoFlag("--follow_redirects", "Follow 301, 302, 303, 307 and 308 (default true).", defaultValue: true);
    private readonly Option<bool> _validateCert = TornadoFlag("--validate_cert", "Check the server's certificate and name over https (default true).", defaultValue: true);
    private readonly Option<string> _proxyHost = new("--proxy_host", "--proxy-host") { Description = "An HTTP proxy's host.", HelpName = "HOST" };
    private readonly Option<int?> _proxyPort = new("--proxy_port", "--proxy-port") { Description = "The HTTP proxy's port.", HelpName = "PORT", CustomParser = ParsePort };
    private readonly Option<ClientKind> _client = new("--client") { Description = "simple (HTTP/1.1 on the loop's own streams, the default) or curl (libcurl).", HelpName = "simple|curl", CustomParser = ParseClient };
    private readonly Option<string> _method = new("--method", "-X") { Description = "The method (default GET, or POST with -d/--data-file).", HelpName = "METHOD", CustomParser = ParseMethod };
    private readonly Option<string[]> _header = new("--header", "-H") { Description = "A request header, \"Name: value\"; repeat for more.", HelpName = "HEADER", AllowMultipleArgumentsPerToken = false };
    private readonly Option<string> _data = new("--data", "-d") { Description = "The request body, sent as UTF-8 (makes the method POST).", HelpName = "TEXT" };
    private readonly Option<FileInfo> _dataFile = new("--data-file") { Description = "Send this file's bytes as the request body (makes the method POST).", HelpName = "FILE" };
    private readonly Option<TimeSpan?> _timeout = new("--timeout") { Description = "Seconds allowed for the whole fetch, 2.5 for example (default no limit; 0 for none).", HelpName = "SECONDS", CustomParser = ParseSeconds };
    private readonly Option<TimeSpan?> _connectTimeout = new("--connect-timeout") { Description = "Seconds allowed for resolving, connecting and TLS (default 20; 0 for no limit).", HelpName = "SECONDS", CustomParser = ParseSeconds };
    private readonly Option<int?> _maxRedirects = new("--max-redirects") { Description = "The most redirects followed (default 5); past it the last 3xx is the answer.", HelpName = "N", CustomParser = ParseMaxRedirects };
    private readonly Option<string> _user = new("--user", "-u") { Description = "Basic authentication, user:password.", HelpName = "USER:PASSWORD" };
    private readonly Option<FileInfo> _caCerts = new("--ca-certs") { Description = "Trust the CA certificates in this PEM file instead of the system's.", HelpName = "FILE" };
    private readonly Option<bool> _http2 = new("--http2") { Description = "Ask for HTTP/2 (over TLS, through ALPN); the curl client only." };
    private readonly Option<string> _output = new("--output", "-o") { Description = "Write the output to FILE instead of stdout (several URLs: one after the other).", HelpName = "FILE" };
    private readonly Option<bool> _json = new("--json") { Description = "Write one JSON object per URL to stdout (status, headers, body length and SHA-256, times, error) instead of the output; the body goes only to -o." };
    private readonly Option<bool> _fail = new("--fail") { Description = "Exit with 1, saying so on stderr, when a status is not 2xx." };
    private readonly Argument<string[]> _urls = new("URL") { Description = "http or https URLs to fetch.", Arity = ArgumentArity.OneOrMore };

    private FetchCommand()
    {
        _dataFile.AcceptExistingOnly();
        _caCerts.AcceptExistingOnly();
        _urls.Validators.Add(ValidateUrls);
        _header.Validators.Add(ValidateHeaders);
        _user.Validators.Add(result =>
        {
            if (result.Tokens is [{ Value: var user }, ..] && (user.Length == 0 || user[0] == ':'))
            {
                result.AddError("--user takes user:password, with a user name");
            }
        });
        Root = new RootCommand(Description)
        {
            _printHeaders, _printBody, _followRedirects, _validateCert, _proxyHost, _proxyPort,
            _client, _method, _header, _data, _dataFile, _timeout, _connectTimeout, _maxRedirects,
            _user, _caCerts, _http2, _output, _json, _fail, _urls,
        };
        Root.Validators.Add(ValidateCombinations);
        Root.SetAction(Execute);
    }

    private RootCommand Root { get; }

    /// <summary>Parses <paramref name="args"/> and runs what they ask for: help, the version, or the fetches.</summary>
    /// <returns>The process's exit code (<see cref="ExitCodes"/>).</returns>
    public static int Run(string[] args)
    {
        var command = new FetchCommand();

        // Response files (@file) are off: a token is a URL or an option, nothing else.
        ParseResult result = command.Root.Parse(NormalizeBooleans(args), new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (result.Errors.Count > 0 && result.Action is not HelpAction)
        {
            Console.Error.WriteLine($"loop-fetch: {ErrorText.OneLine(result.Errors[0].Message)} (see loop-fetch --help)");
            return ExitCodes.Usage;
        }

        // Help, the version, or the fetches (the root command's action). Failures inside the
        // fetches are caught there, narrowly; the default handler would print a stack trace.
        return result.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }

    /// <summary>
    /// Rewrites a Tornado boolean flag's value into the <c>true</c> or <c>false</c> that
    /// System.CommandLine reads: <c>--flag=VALUE</c> by Tornado's rule, and <c>--flag VALUE</c>
    /// when VALUE is a boolean word. Everything after <c>--</c> is left as it is.
    /// </summary>
    internal static string[] NormalizeBooleans(IReadOnlyList<string> args)
    {
        var result = new List<string>(args.Count);
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (arg == "--")
            {
                result.AddRange(args.Skip(i));
                break;
            }

            int equals = arg.IndexOf('=', StringComparison.Ordinal);
            string name = equals < 0 ? arg : arg[..equals];
            if (!IsTornadoFlag(name))
            {
                result.Add(arg);
            }
            else if (equals >= 0)
            {
                result.Add($"{name}={TornadoTruth(arg[(equals + 1)..])}");
            }
            else if (i + 1 < args.Count && s_booleanWords.Contains(args[i + 1], StringComparer.OrdinalIgnoreCase))
            {
                result.Add($"{name}={TornadoTruth(args[++i])}");
            }
            else
            {
                result.Add(arg);
            }
        }

        return [.. result];
    }

    /// <summary>Tornado's reading of a boolean value: true unless false, 0, f or no (any case).</summary>
    internal static string TornadoTruth(string value) =>
        s_falseWords.Contains(value.Trim(), StringComparer.OrdinalIgnoreCase) ? "false" : "true";

    private static bool IsTornadoFlag(string name) => name is
        "--print_headers" or "--print-headers" or "--print_body" or "--print-body" or
        "--follow_redirects" or "--follow-redirects" or "--validate_cert" or "--validate-cert";

    private static Option<bool> TornadoFlag(string name, string description, bool defaultValue = false) =>
        new(name, name.Replace('_', '-')) { Description = description, Arity = ArgumentArity.ZeroOrOne, DefaultValueFactory = _ => defaultValue };

    private static int? ParsePort(ArgumentResult result)
    {
        string text = result.Tokens[0].Value;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int port) && port is > 0 and < 65536)
        {
            return port;
        }

        result.AddError($"{OptionName(result)} takes a port number from 1 to 65535, not '{text}'");
        return null;
    }

    private static ClientKind ParseClient(ArgumentResult result)
    {
        string text = result.Tokens[0].Value;
        switch (text.ToUpperInvariant())
        {
            case "SIMPLE":
                return ClientKind.Simple;
            case "CURL":
                return ClientKind.Curl;
            default:
                result.AddError($"--client takes simple or curl, not '{text}'");
                return ClientKind.Simple;
        }
    }

    private static string? ParseMethod(ArgumentResult result)
    {
        string text = result.Tokens[0].Value;
        if (text.Length > 0 && text.All(IsTokenChar))
        {
            return text;
        }

        result.AddError($"--method takes a method name (letters, digits, and !#$%&'*+-.^_`|~), not '{text}'");
        return null;
    }

    private static TimeSpan? ParseSeconds(ArgumentResult result)
    {
        string text = result.Tokens[0].Value;
        if (double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double seconds)
            && double.IsFinite(seconds) && seconds <= TimeSpan.MaxValue.TotalSeconds / 2)
        {
            return TimeSpan.FromSeconds(seconds);
        }

        result.AddError($"{OptionName(result)} takes a number of seconds such as 2.5, not '{text}'");
        return null;
    }

    private static int? ParseMaxRedirects(ArgumentResult result)
    {
        string text = result.Tokens[0].Value;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int count))
        {
            return count;
        }

        result.AddError($"--max-redirects takes a whole number of redirects, not '{text}'");
        return null;
    }

    private static string OptionName(ArgumentResult result) =>
        result.Parent is OptionResult option ? option.IdentifierToken?.Value.Split('=')[0] ?? option.Option.Name : "the option";

    private static void ValidateUrls(ArgumentResult result)
    {
        foreach (Token token in result.Tokens)
        {
            string value = token.Value;
            if (value.Length > 1 && value[0] == '-')
            {
                result.AddError($"unknown option '{value.Split('=')[0]}'");
                return;
            }

            if (!Uri.TryCreate(value, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.Host.Length == 0)
            {
                result.AddError($"'{value}' is not an http or https URL");
                return;
            }
        }
    }

    private static void ValidateHeaders(OptionResult result)
    {
        foreach (Token token in result.Tokens)
        {
            if (ParseHeader(token.Value) is null)
            {
                result.AddError($"--header takes \"Name: value\" (a name without spaces, no CR or LF anywhere), not '{ErrorText.OneLine(token.Value)}'");
                return;
            }
        }
    }

    /// <summary>Splits <c>Name: value</c>; null when the name is not a token or CR, LF or NUL appears.</summary>
    internal static KeyValuePair<string, string>? ParseHeader(string text)
    {
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || text.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
        {
            return null;
        }

        string name = text[..colon];
        return name.All(IsTokenChar) ? new(name, text[(colon + 1)..].Trim(' ', '\t')) : null;
    }

    private static bool IsTokenChar(char c) => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal);

    private void ValidateCombinations(CommandResult result)
    {
        if (result.GetValue(_http2) && result.GetValue(_client) != ClientKind.Curl)
        {
            result.AddError("--http2 needs --client curl (the simple client speaks HTTP/1.1 only)");
        }

        if (result.GetResult(_data) is not null && result.GetResult(_dataFile) is not null)
        {
            result.AddError("--data and --data-file cannot both be given");
        }
    }

    private int Execute(ParseResult result)
    {
        FetchSettings settings;
        try
        {
            settings = Bind(result);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"loop-fetch: cannot read --data-file: {ErrorText.OneLine(e.Message)}");
            return ExitCodes.Usage;
        }

        return Fetcher.Run(settings);
    }

    private FetchSettings Bind(ParseResult result)
    {
        string? user = result.GetValue(_user);
        int colon = user?.IndexOf(':', StringComparison.Ordinal) ?? -1;
        byte[]? data = result.GetValue(_data) is { } text ? System.Text.Encoding.UTF8.GetBytes(text)
            : result.GetValue(_dataFile) is { } file ? File.ReadAllBytes(file.FullName)
            : null;
        return new FetchSettings
        {
            Urls = result.GetValue(_urls) ?? [],
            PrintHeaders = result.GetValue(_printHeaders),
            PrintBody = result.GetValue(_printBody),
            FollowRedirects = result.GetValue(_followRedirects),
            ValidateCert = result.GetValue(_validateCert),
            ProxyHost = result.GetValue(_proxyHost),
            ProxyPort = result.GetValue(_proxyPort),
            Client = result.GetValue(_client),
            Method = result.GetValue(_method),
            Headers = [.. (result.GetValue(_header) ?? []).Select(header => ParseHeader(header)!.Value)],
            Data = data,
            Timeout = result.GetValue(_timeout) is { } timeout && timeout > TimeSpan.Zero ? timeout : null,
            ConnectTimeout = result.GetValue(_connectTimeout),
            MaxRedirects = result.GetValue(_maxRedirects),
            User = colon < 0 ? user : user![..colon],
            Password = colon < 0 ? null : user![(colon + 1)..],
            CaCerts = result.GetValue(_caCerts)?.FullName,
            Http2 = result.GetValue(_http2),
            OutputPath = result.GetValue(_output),
            Json = result.GetValue(_json),
            Fail = result.GetValue(_fail),
        };
    }
}
