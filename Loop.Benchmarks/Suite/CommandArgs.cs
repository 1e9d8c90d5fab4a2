namespace Loop.Benchmarks.Suite;

/// <summary>The benchmark commands' argument reading: <c>--name value</c> options and bare flags.</summary>
internal static class CommandArgs
{
    /// <summary>The value after <paramref name="name"/>, or null when it is absent or has no value.</summary>
    public static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>
    /// The first argument that is neither one of <paramref name="flags"/> nor one of
    /// <paramref name="valueOptions"/> followed by its value (so also an option missing its
    /// value); null when every argument is known.
    /// </summary>
    public static string? FirstUnknown(string[] args, IReadOnlyCollection<string> valueOptions, IReadOnlyCollection<string> flags)
    {
        for (int i = 0; i < args.Length; i++)
        {
            if (flags.Contains(args[i]))
            {
                continue;
            }

            if (!valueOptions.Contains(args[i]) || i + 1 >= args.Length)
            {
                return args[i];
            }

            i++;
        }

        return null;
    }
}
