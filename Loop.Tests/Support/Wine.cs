using System.Runtime.InteropServices;

namespace Loop.Tests.Support;

/// <summary>
/// Whether the tests run under Wine rather than on Windows: Wine's ntdll exports
/// <c>wine_get_version</c>, Windows' does not. Used only where Wine is known to differ from
/// Windows, and every such place says how.
/// </summary>
public static class Wine
{
    private static readonly Lazy<bool> s_isRunning = new(Detect);

    public static bool IsRunning => s_isRunning.Value;

    private static bool Detect() =>
        OperatingSystem.IsWindows()
        && NativeLibrary.TryLoad("ntdll.dll", out IntPtr ntdll)
        && NativeLibrary.TryGetExport(ntdll, "wine_get_version", out _);
}
