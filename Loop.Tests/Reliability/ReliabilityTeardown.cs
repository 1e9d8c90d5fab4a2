namespace Loop.Tests.Reliability;

/// <summary>Stops the reliability tests' own servers once every test of this namespace has run.</summary>
[SetUpFixture]
public sealed class ReliabilityTeardown
{
    [OneTimeTearDown]
    public void StopServers() => SlowHttpServer.StopShared();
}
