using Loop.Http;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Loop as the transport under <see cref="System.Net.Http.IHttpClientFactory"/>'s clients.</summary>
public static class LoopHttpServiceCollectionExtensions
{
    /// <summary>
    /// Registers what Loop's handlers share in this container: <see cref="LoopHttpTransports"/> (a
    /// singleton, disposed with the container: it stops the loops and joins their threads) and, as
    /// a singleton too, the <see cref="LoopHttpTransport"/> of <paramref name="configure"/>'s choice
    /// of client (made on first use). Only the first call's options count; later calls add nothing.
    /// </summary>
    /// <param name="services">The container's services.</param>
    /// <param name="configure">Sets the defaults: the client (simple or curl), <c>MaxClients</c>, and how requests are made; <c>UseLoop</c> starts from these.</param>
    public static IServiceCollection AddLoop(this IServiceCollection services, Action<LoopHttpMessageHandlerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var defaults = new LoopHttpMessageHandlerOptions();
        configure?.Invoke(defaults);
        services.TryAddSingleton(_ => new LoopHttpTransports(defaults));
        services.TryAddSingleton(provider => provider.GetRequiredService<LoopHttpTransports>().Get());
        return services;
    }

    /// <summary>
    /// Makes a <see cref="LoopHttpMessageHandler"/> the primary handler of this client (its
    /// <c>ConfigurePrimaryHttpMessageHandler</c>), on the container's shared loop (<see cref="AddLoop"/>
    /// is called if it was not). A handler the factory recycles leaves the loop running; the
    /// container stops it when disposed.
    /// </summary>
    /// <param name="builder">The client's builder.</param>
    /// <param name="configure">Changes the options for this client, starting from <see cref="AddLoop"/>'s: another client kind or <c>MaxClients</c> gives this client a loop of its own (shared with any other client that makes the same choice).</param>
    public static IHttpClientBuilder UseLoop(this IHttpClientBuilder builder, Action<LoopHttpMessageHandlerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddLoop();
        builder.ConfigurePrimaryHttpMessageHandler(provider =>
        {
            LoopHttpTransports transports = provider.GetRequiredService<LoopHttpTransports>();
            LoopHttpMessageHandlerOptions options = transports.Defaults;
            configure?.Invoke(options);
            return new LoopHttpMessageHandler(transports.Get(options), options);
        });
        return builder;
    }
}
