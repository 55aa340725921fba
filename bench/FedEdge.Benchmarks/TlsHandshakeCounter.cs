using System.Diagnostics.Tracing;

namespace FedEdge.Benchmarks;

/// <summary>
/// Counts the TLS handshakes this process starts (client and server ends alike: one connection in the bench is two), from
/// the runtime's <c>System.Net.Security</c> events. <c>bench round --tls</c> reports them per timed round to show whether
/// connections are opened again during rounds (they should be opened once, in round 1).
/// </summary>
internal sealed class TlsHandshakeCounter : EventListener
{
    private static long _started;

    /// <summary>The listener for the whole process; created before the first connection.</summary>
    public static TlsHandshakeCounter Instance { get; } = new();

    /// <summary>Handshakes started so far in this process.</summary>
    public static long Started => Interlocked.Read(ref _started);

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "System.Net.Security")
        {
            EnableEvents(eventSource, EventLevel.Informational);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (eventData.EventName == "HandshakeStart")
        {
            Interlocked.Increment(ref _started);
        }
    }
}
