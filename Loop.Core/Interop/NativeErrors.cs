using System.ComponentModel;

namespace Loop.Interop;

/// <summary>Turns errno values into exceptions. Throws live here, off the hot paths.</summary>
internal static class NativeErrors
{
    /// <summary>An exception naming the call that failed and errno's text.</summary>
    internal static Win32Exception For(string call, int errno) =>
        new(errno, $"{call} failed: {Libc.Describe(errno)} (errno {errno})");

    internal static void Throw(string call, int errno) => throw For(call, errno);
}
