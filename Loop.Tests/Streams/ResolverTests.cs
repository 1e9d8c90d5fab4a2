using System.Net;
using System.Net.Sockets;
using Loop.Tests.Support;

namespace Loop.Tests.Streams;

/// <summary>netutil_test.py: the resolvers and is_valid_ip.</summary>
[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.NativePlainStreams))]
public sealed class ResolverTests(PollerBackend backend, StreamKind kind) : StreamFixture(backend, kind)
{
    [Test]
    public void DefaultResolver_Localhost_GivesLoopbackAndResumesOnTheLoop() => Run(async () =>
    {
        IPEndPoint[] endpoints = await DefaultResolver.Instance.ResolveAsync("localhost", 80);
        Assert.That(Loop.IsOnLoopThread, Is.True, "the await resumes on the loop thread");
        Assert.That(endpoints, Has.Some.Matches<IPEndPoint>(e => (e.Address.Equals(IPAddress.Loopback) || e.Address.Equals(IPAddress.IPv6Loopback)) && e.Port == 80));
    });

    [Test]
    public void DefaultResolver_FamilyFilter_KeepsOnlyThatFamily() => Run(async () =>
    {
        IPEndPoint[] endpoints = await DefaultResolver.Instance.ResolveAsync("localhost", 80, AddressFamily.InterNetwork);
        Assert.That(endpoints, Is.Not.Empty.And.All.Matches<IPEndPoint>(e => e.AddressFamily == AddressFamily.InterNetwork));
    });

    [Test]
    public void DefaultResolver_BadHost_RaisesResolveException() => Run(async () =>
    {
        ResolveException error = await AsyncAssert.ThrowsAsync<ResolveException>(async () => await DefaultResolver.Instance.ResolveAsync("an invalid domain", 80));
        Assert.That(error.Host, Is.EqualTo("an invalid domain"));
        Assert.That(error.Message, Does.Contain("an invalid domain"));
    });

    [Test]
    public void DefaultResolver_IPLiteral_AnswersWithoutLookup()
    {
        ValueTask<IPEndPoint[]> result = DefaultResolver.Instance.ResolveAsync("::1", 443);
        Assert.That(result.IsCompletedSuccessfully, Is.True);
        Assert.That(result.Result.Single(), Is.EqualTo(new IPEndPoint(IPAddress.IPv6Loopback, 443)));
    }

    [Test]
    public void OverrideResolver_HostAndHostPortKeys_Redirect() => Run(async () =>
    {
        var counting = new CountingResolver();
        var resolver = new OverrideResolver(counting, new Dictionary<string, string>
        {
            ["google.com"] = "1.2.3.4",
            ["google.com:443"] = "5.6.7.8:8443",
            ["[2001:db8::1]:80"] = "[::1]:8080",
        });
        Assert.That((await resolver.ResolveAsync("google.com", 80)).Single(), Is.EqualTo(new IPEndPoint(IPAddress.Parse("1.2.3.4"), 80)));
        Assert.That((await resolver.ResolveAsync("GOOGLE.com", 443)).Single(), Is.EqualTo(new IPEndPoint(IPAddress.Parse("5.6.7.8"), 8443)));
        Assert.That((await resolver.ResolveAsync("[2001:db8::1]", 80)).Single(), Is.EqualTo(new IPEndPoint(IPAddress.IPv6Loopback, 8080)));
        Assert.That((await resolver.ResolveAsync("other.test", 80)).Single().Address, Is.EqualTo(IPAddress.Parse("192.0.2.1")));
        Assert.That(counting.Hosts, Is.EqualTo(new[] { "1.2.3.4", "5.6.7.8", "::1", "other.test" }));
    });

    [Test]
    public void OverrideResolver_BadMapping_IsRejected() =>
        Assert.Throws<ArgumentException>(() => _ = new OverrideResolver(DefaultResolver.Instance, new Dictionary<string, string> { ["a:b"] = "c" }));

    [Test]
    public void CachingResolver_WithinTtl_AsksOnceAndSharesAConcurrentLookup() => Run(async () =>
    {
        var inner = new CountingResolver { Gate = new TaskCompletionSource() };
        var clock = new ManualClock();
        var cache = new CachingResolver(inner, TimeSpan.FromSeconds(30), clock);
        ValueTask<IPEndPoint[]> first = cache.ResolveAsync("example.test", 80);
        ValueTask<IPEndPoint[]> second = cache.ResolveAsync("EXAMPLE.test", 80);
        inner.Gate.SetResult();
        Assert.That((await first).Single(), Is.EqualTo((await second).Single()));
        await cache.ResolveAsync("example.test", 80);
        Assert.That(inner.Hosts, Has.Count.EqualTo(1));

        clock.Advance(TimeSpan.FromSeconds(31));
        await cache.ResolveAsync("example.test", 80);
        Assert.That(inner.Hosts, Has.Count.EqualTo(2), "an expired answer is asked for again");
    });

    [Test]
    public void CachingResolver_Failure_IsNotCached() => Run(async () =>
    {
        var inner = new CountingResolver { FailNext = true };
        var cache = new CachingResolver(inner, TimeSpan.FromMinutes(5));
        await AsyncAssert.ThrowsAsync<ResolveException>(async () => await cache.ResolveAsync("flaky.test", 80));
        Assert.That((await cache.ResolveAsync("flaky.test", 80)).Single().Port, Is.EqualTo(80));
        Assert.That(inner.Hosts, Has.Count.EqualTo(2));
    });

    [TestCase("127.0.0.1", true)]
    [TestCase("4.4.4.4", true)]
    [TestCase("::1", true)]
    [TestCase("2620:0:1cfe:face:b00c::3", true)]
    [TestCase("www.google.com", false)]
    [TestCase("localhost", false)]
    [TestCase("4.4.4.4<", false)]
    [TestCase(" 127.0.0.1", false)]
    [TestCase("", false)]
    [TestCase(" ", false)]
    [TestCase("\n", false)]
    [TestCase("\0", false)]
    [TestCase("1", false)]
    [TestCase("1.2.3", false)]
    [TestCase("256.1.1.1", false)]
    public void IsValidIP_AcceptsOnlyAddressLiterals(string text, bool valid) => Assert.That(NetUtil.IsValidIP(text), Is.EqualTo(valid));

    [Test]
    public void IsValidIP_LongGarbage_IsRejected() => Assert.That(NetUtil.IsValidIP(new string('a', 100)), Is.False);

    private sealed class CountingResolver : IResolver
    {
        public List<string> Hosts { get; } = [];

        public TaskCompletionSource? Gate { get; set; }

        public bool FailNext { get; set; }

        public async ValueTask<IPEndPoint[]> ResolveAsync(string host, int port, AddressFamily family = AddressFamily.Unspecified, CancellationToken cancellationToken = default)
        {
            Hosts.Add(host);
            if (Gate is not null)
            {
                await Gate.Task;
            }

            if (FailNext)
            {
                FailNext = false;
                throw new ResolveException(host, "no such host");
            }

            return [new IPEndPoint(IPAddress.TryParse(host, out IPAddress? address) ? address : IPAddress.Parse("192.0.2.1"), port)];
        }
    }

    private sealed class ManualClock : TimeProvider
    {
        private long _ticks = 1;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}
