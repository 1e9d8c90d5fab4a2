using Loop.Tests.Streams;

namespace Loop.Tests.Support;

/// <summary>
/// The poller backends the loop and stream fixtures run on, by OS: the OS's own (epoll on
/// Linux, kqueue on macOS and the BSDs, IOCP on Windows) and, on every Unix, poll(2) as well,
/// so that the portable fallback stays honest. Windows has no poll(2) backend.
/// </summary>
public static class TestBackends
{
    /// <summary>The backend <see cref="PollerBackend.Auto"/> picks on this OS.</summary>
    public static PollerBackend Native =>
        OperatingSystem.IsLinux() ? PollerBackend.Epoll
        : OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? PollerBackend.Kqueue
        : OperatingSystem.IsWindows() ? PollerBackend.Iocp
        : PollerBackend.Poll;

    /// <summary>Loop fixtures: the native backend, and poll(2) on Unix.</summary>
    public static IEnumerable<TestFixtureData> Loop()
    {
        yield return new TestFixtureData(Native);
        if (!OperatingSystem.IsWindows() && Native != PollerBackend.Poll)
        {
            yield return new TestFixtureData(PollerBackend.Poll);
        }
    }

    /// <summary>Stream fixtures that need one backend: the native one, plain TCP.</summary>
    public static IEnumerable<TestFixtureData> NativePlainStreams()
    {
        yield return new TestFixtureData(Native, StreamKind.Plain);
    }

    /// <summary>The read/write suite: plain TCP on each loop backend, and TLS on the native one.</summary>
    public static IEnumerable<TestFixtureData> ReadWriteStreams()
    {
        yield return new TestFixtureData(Native, StreamKind.Plain);
        if (!OperatingSystem.IsWindows() && Native != PollerBackend.Poll)
        {
            yield return new TestFixtureData(PollerBackend.Poll, StreamKind.Plain);
        }

        yield return new TestFixtureData(Native, StreamKind.Tls);
    }
}
