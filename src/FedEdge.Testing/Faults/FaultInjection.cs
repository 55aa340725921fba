using FedEdge.Devices;
using FedEdge.Messaging;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FedEdge.Transport.Faults;

/// <summary>
/// Decorators that inject seeded faults into any FedEdge transport (for reliability tests such as 50 % loss).
/// </summary>
/// <remarks>
/// <para>
/// Every decorator keeps one generator per link and direction, seeded from (<see cref="FaultOptions.Seed"/>, link,
/// direction), so decorators built from one <see cref="FaultOptions"/> fault independently and a run is reproducible.
/// A worker decorator has one link (<c>link</c>, normally the device id) with two directions: its sends and what it
/// delivers. A coordinator decorator has a link per device, keyed by the destination of a send and by the sender of
/// a delivery (<see cref="DeviceStatus.DeviceId"/>, <see cref="ModelUpdate.SenderId"/>, the protocol sender), plus the
/// link <c>broadcast</c> for global-model publications. The coordinator's and the worker's ends of one link draw
/// from different generators.
/// </para>
/// <para>
/// Joins are faulted by the worker decorator, the side that waits for the answer: a dropped or corrupted join
/// request or response makes <see cref="IWorkerTransport.JoinAsync"/> fail after
/// <see cref="FaultOptions.JoinLossTimeout"/> with a <see cref="TimeoutException"/>; a delayed or reordered one holds
/// the join for that time; a duplicated request reaches the coordinator twice (the first answer is returned); a
/// duplicated response is discarded, as request/response correlation would. The coordinator decorator passes joins
/// through: it cannot make a remote caller time out without stalling the transport's delivery loop.
/// </para>
/// </remarks>
public static class FaultInjection
{
    /// <summary>The link name of a coordinator's global-model publications.</summary>
    public const string BroadcastLink = "broadcast";

    /// <summary>The link name of a worker decorator created without one.</summary>
    public const string DefaultWorkerLink = "worker";

    /// <summary>Wraps a coordinator transport: faults apply to its sends and to what it delivers to the handler.</summary>
    /// <param name="inner">The transport to wrap.</param>
    /// <param name="options">The fault rates and seed; validated here.</param>
    /// <param name="timeProvider">The clock of injected delays (the system clock when null).</param>
    /// <param name="logger">Where failed delayed deliveries are logged.</param>
    /// <param name="link">
    /// Names this coordinator when several coordinators (e.g. edge aggregators) share one <paramref name="options"/>:
    /// its generators are keyed by <c>{link}/{device id}</c> instead of the device id alone (null).
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="options"/> is out of range (see <see cref="FaultOptions.Validate"/>).</exception>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "Extension overloads on different receiver types (coordinator or worker transport), so no call is ambiguous.")]
    public static ICoordinatorTransport WithFaults(this ICoordinatorTransport inner, FaultOptions options, TimeProvider? timeProvider = null, ILogger? logger = null, string? link = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return new FaultyCoordinatorTransport(inner, new FaultEngine(options, timeProvider ?? TimeProvider.System, logger ?? NullLogger.Instance), link);
    }

    /// <summary>Wraps a worker transport: faults apply to its sends, its joins and what it delivers to the handler.</summary>
    /// <param name="inner">The transport to wrap.</param>
    /// <param name="options">The fault rates and seed; validated here.</param>
    /// <param name="timeProvider">The clock of injected delays and of <see cref="FaultOptions.JoinLossTimeout"/> (the system clock when null).</param>
    /// <param name="logger">Where failed delayed deliveries are logged.</param>
    /// <param name="link">The link's name, normally the device id, so that workers fault independently; <see cref="DefaultWorkerLink"/> when null.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="options"/> is out of range (see <see cref="FaultOptions.Validate"/>).</exception>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "Extension overloads on different receiver types (coordinator or worker transport), so no call is ambiguous.")]
    public static IWorkerTransport WithFaults(this IWorkerTransport inner, FaultOptions options, TimeProvider? timeProvider = null, ILogger? logger = null, string? link = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return new FaultyWorkerTransport(inner, new FaultEngine(options, timeProvider ?? TimeProvider.System, logger ?? NullLogger.Instance), link ?? DefaultWorkerLink);
    }
}
