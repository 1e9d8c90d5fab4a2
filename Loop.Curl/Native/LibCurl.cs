using System.Reflection;
using System.Runtime.InteropServices;

namespace Loop.Curl.Native;

/// <summary>
/// The libcurl functions the client uses, bound with source-generated imports. The library is
/// found at run time (<see cref="EnsureLoaded"/>), under the names the platforms give it.
/// </summary>
/// <remarks>
/// <c>curl_easy_setopt</c>, <c>curl_multi_setopt</c> and <c>curl_easy_getinfo</c> are variadic.
/// Where variadic arguments travel like fixed ones (Linux and Windows on x64 and arm64) one
/// fixed-signature import per argument kind is exact. Apple's arm64 ABI passes variadic
/// arguments on the stack, so there the client refuses to start rather than pass garbage.
/// </remarks>
internal static unsafe partial class LibCurl
{
    private const string Library = "libcurl";

    /// <summary>7.21.1: the first libcurl with everything the client relies on.</summary>
    public const uint MinimumVersion = 0x071501;

    private static readonly string[] s_names = OperatingSystem.IsWindows()
        ? ["libcurl.dll", "libcurl-x64.dll", "libcurl-4.dll"]
        : OperatingSystem.IsMacOS()
            ? ["libcurl.4.dylib", "libcurl.dylib"]
            : ["libcurl.so.4", "libcurl-gnutls.so.4", "libcurl.so"];

#if NET9_0_OR_GREATER
    private static readonly Lock s_lock = new();
#else
    private static readonly object s_lock = new();
#endif
    private static nint s_handle;
    private static Exception? s_failure;
    private static string s_version = string.Empty;

    /// <summary>The version libcurl reports, for example <c>7.88.1</c> (after <see cref="EnsureLoaded"/>).</summary>
    public static string Version => s_version;

    /// <summary>The version as libcurl's number, 0xXXYYZZ (major, minor, patch), for example <c>0x075801</c> (after <see cref="EnsureLoaded"/>).</summary>
    public static uint VersionNumber { get; private set; }

    /// <summary>Whether the loaded libcurl speaks HTTP/2.</summary>
    public static bool SupportsHttp2 { get; private set; }

    /// <summary>
    /// Loads libcurl and initialises it once for the process (thread-safe); later calls return at
    /// once. Throws <see cref="CurlUnavailableException"/> naming what was looked for when no
    /// usable libcurl can be loaded, every time it is asked.
    /// </summary>
    public static void EnsureLoaded()
    {
        lock (s_lock)
        {
            if (s_handle != 0)
            {
                return;
            }

            if (s_failure is not null)
            {
                throw s_failure;
            }

            try
            {
                Load();
            }
            catch (Exception e)
            {
                s_failure = e as CurlUnavailableException ?? new CurlUnavailableException($"libcurl could not be initialised: {e.Message}", e);
                throw s_failure;
            }
        }
    }

    private static void Load()
    {
        if (OperatingSystem.IsMacOS() && RuntimeInformation.ProcessArchitecture == Architecture.Arm64)
        {
            throw new CurlUnavailableException("The curl client is not supported on macOS arm64: curl_easy_setopt is variadic, and that ABI passes variadic arguments differently from fixed ones. Use SimpleAsyncHttpClient there.");
        }

        string? overrideName = Environment.GetEnvironmentVariable("LOOP_LIBCURL");
        s_handle = LoadLibrary(string.IsNullOrEmpty(overrideName) ? s_names : [overrideName]);
        NativeLibrary.SetDllImportResolver(typeof(LibCurl).Assembly, static (name, _, _) => name == Library ? s_handle : 0);
        VersionInfo* info = curl_version_info(0);
        if (info is null || info->VersionNumber < MinimumVersion)
        {
            string found = info is null ? "unknown" : Marshal.PtrToStringUTF8(info->Version) ?? "unknown";
            s_handle = 0;
            throw new CurlUnavailableException($"libcurl {found} is too old: 7.21.1 or later is needed.");
        }

        s_version = Marshal.PtrToStringUTF8(info->Version) ?? string.Empty;
        VersionNumber = info->VersionNumber;
        SupportsHttp2 = (info->Features & (1 << 16)) != 0;
        int code = curl_global_init(new CLong(3) /* CURL_GLOBAL_ALL */);
        if (code != 0)
        {
            s_handle = 0;
            throw new CurlUnavailableException($"curl_global_init failed: {ErrorText(code)}");
        }
    }

    /// <summary>The first of <paramref name="names"/> that loads; <see cref="CurlUnavailableException"/> naming them all if none does.</summary>
    internal static nint LoadLibrary(IReadOnlyList<string> names)
    {
        foreach (string name in names)
        {
            if (NativeLibrary.TryLoad(name, typeof(LibCurl).Assembly, DllImportSearchPath.SafeDirectories | DllImportSearchPath.AssemblyDirectory, out nint handle))
            {
                return handle;
            }
        }

        string install = OperatingSystem.IsLinux() ? " On Debian or Ubuntu: apt-get install libcurl4." : string.Empty;
        throw new CurlUnavailableException($"libcurl was not found (looked for {string.Join(", ", names)}).{install}");
    }

    /// <summary>libcurl's text for an easy error code.</summary>
    public static string ErrorText(int code) => Marshal.PtrToStringUTF8(curl_easy_strerror(code)) ?? $"curl error {code}";

    /// <summary>libcurl's text for a multi error code.</summary>
    public static string MultiErrorText(int code) => Marshal.PtrToStringUTF8(curl_multi_strerror(code)) ?? $"curl multi error {code}";

    [StructLayout(LayoutKind.Sequential)]
    public struct VersionInfo
    {
        public int Age;
        public nint Version;
        public uint VersionNumber;
        public nint Host;
        public int Features;
    }

    /// <summary>What <c>curl_multi_info_read</c> returns: a message kind, the easy handle, and its result code.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Message
    {
        public int Kind;
        public nint Easy;
        public nint Data;

        /// <summary>The CURLcode of a done message (the union's int member).</summary>
        public readonly int Result => (int)(Data & 0xFFFFFFFF);
    }

    [LibraryImport(Library)]
    public static partial int curl_global_init(CLong flags);

    [LibraryImport(Library)]
    public static partial VersionInfo* curl_version_info(int age);

    [LibraryImport(Library)]
    public static partial nint curl_easy_init();

    [LibraryImport(Library)]
    public static partial void curl_easy_cleanup(nint easy);

    [LibraryImport(Library)]
    public static partial void curl_easy_reset(nint easy);

    [LibraryImport(Library, EntryPoint = "curl_easy_setopt")]
    public static partial int curl_easy_setopt_long(nint easy, int option, CLong value);

    [LibraryImport(Library, EntryPoint = "curl_easy_setopt")]
    public static partial int curl_easy_setopt_ptr(nint easy, int option, nint value);

    [LibraryImport(Library, EntryPoint = "curl_easy_setopt")]
    public static partial int curl_easy_setopt_offt(nint easy, int option, long value);

    [LibraryImport(Library, EntryPoint = "curl_easy_getinfo")]
    public static partial int curl_easy_getinfo_long(nint easy, int info, out CLong value);

    [LibraryImport(Library, EntryPoint = "curl_easy_getinfo")]
    public static partial int curl_easy_getinfo_double(nint easy, int info, out double value);

    [LibraryImport(Library, EntryPoint = "curl_easy_getinfo")]
    public static partial int curl_easy_getinfo_offt(nint easy, int info, out long value);

    [LibraryImport(Library, EntryPoint = "curl_easy_getinfo")]
    public static partial int curl_easy_getinfo_ptr(nint easy, int info, out nint value);

    /// <summary>
    /// Whether socket <paramref name="fd"/> is connected from local port <paramref name="localPort"/>
    /// to remote port <paramref name="remotePort"/> (Linux; false elsewhere and on any error, such
    /// as an fd that is no longer a socket).
    /// </summary>
    public static bool IsConnection(int fd, int localPort, int remotePort)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        byte* address = stackalloc byte[128];
        uint length = 128;
        if (getsockname(fd, address, &length) != 0 || length < 4 || Port(address) != localPort)
        {
            return false;
        }

        length = 128;
        return getpeername(fd, address, &length) == 0 && length >= 4 && Port(address) == remotePort;

        // sockaddr_in and sockaddr_in6: the port, big-endian, after the 2-byte family.
        static int Port(byte* sockaddr) => (sockaddr[2] << 8) | sockaddr[3];
    }

    /// <summary>
    /// The local and remote ports of connected socket <paramref name="fd"/> (one getsockname and
    /// one getpeername), or false (not Linux, not a connected IPv4 or IPv6 socket).
    /// </summary>
    public static bool TryGetPorts(int fd, out int localPort, out int remotePort)
    {
        localPort = remotePort = -1;
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        const int AfInet = 2, AfInet6 = 10;
        byte* address = stackalloc byte[128];
        uint length = 128;
        if (getsockname(fd, address, &length) != 0 || length < 4 || Family(address) is not (AfInet or AfInet6))
        {
            return false;
        }

        localPort = (address[2] << 8) | address[3];
        length = 128;
        if (getpeername(fd, address, &length) != 0 || length < 4)
        {
            return false;
        }

        remotePort = (address[2] << 8) | address[3];
        return true;

        // sa_family_t is the first two bytes, in the machine's order.
        static int Family(byte* sockaddr) => *(ushort*)sockaddr;
    }

    /// <summary>A socket as curl's own <c>socket()</c> call makes it (what CURLOPT_OPENSOCKETFUNCTION must return), or -1.</summary>
    [LibraryImport("libc", EntryPoint = "socket")]
    public static partial int OpenSocket(int family, int type, int protocol);

    /// <summary>Closes descriptor <paramref name="fd"/> (what CURLOPT_CLOSESOCKETFUNCTION must do): 0, or -1.</summary>
    [LibraryImport("libc", EntryPoint = "close")]
    public static partial int CloseSocket(int fd);

    /// <summary>Whether bytes wait unread on socket <paramref name="fd"/> (a peek that does not block; Linux flag values).</summary>
    public static bool HasUnreadBytes(int fd)
    {
        const int MsgPeek = 0x2, MsgDontWait = 0x40;
        byte one;
        return OperatingSystem.IsLinux() && recv(fd, &one, 1, MsgPeek | MsgDontWait) > 0;
    }

    [LibraryImport("libc", EntryPoint = "recv")]
    private static partial nint recv(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "getsockname")]
    private static partial int getsockname(int fd, byte* address, uint* length);

    [LibraryImport("libc", EntryPoint = "getpeername")]
    private static partial int getpeername(int fd, byte* address, uint* length);

    [LibraryImport(Library)]
    public static partial int curl_easy_pause(nint easy, int bitmask);

    [LibraryImport(Library)]
    public static partial nint curl_easy_strerror(int code);

    [LibraryImport(Library)]
    public static partial nint curl_multi_init();

    [LibraryImport(Library)]
    public static partial int curl_multi_cleanup(nint multi);

    [LibraryImport(Library)]
    public static partial int curl_multi_add_handle(nint multi, nint easy);

    [LibraryImport(Library)]
    public static partial int curl_multi_remove_handle(nint multi, nint easy);

    [LibraryImport(Library, EntryPoint = "curl_multi_setopt")]
    public static partial int curl_multi_setopt_long(nint multi, int option, CLong value);

    [LibraryImport(Library, EntryPoint = "curl_multi_setopt")]
    public static partial int curl_multi_setopt_ptr(nint multi, int option, nint value);

    [LibraryImport(Library)]
    public static partial int curl_multi_socket_action(nint multi, int socket, int events, out int running);

    [LibraryImport(Library)]
    public static partial Message* curl_multi_info_read(nint multi, out int remaining);

    [LibraryImport(Library)]
    public static partial int curl_multi_timeout(nint multi, out CLong milliseconds);

    [LibraryImport(Library)]
    public static partial nint curl_multi_strerror(int code);

    [LibraryImport(Library)]
    public static partial nint curl_slist_append(nint list, byte* text);

    [LibraryImport(Library)]
    public static partial void curl_slist_free_all(nint list);
}
