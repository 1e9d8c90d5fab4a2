using Loop.Tests.Support;

/// <summary>Stops the shared Kestrel once every test of the assembly has run (no namespace: it covers them all).</summary>
[SetUpFixture]
public sealed class AssemblyTeardown
{
    [OneTimeTearDown]
    public void StopServers() => TestHttpServer.StopShared();
}
