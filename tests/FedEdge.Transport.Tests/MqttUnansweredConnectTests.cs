using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Messaging;
using FedEdge.Training;
using FedEdge.Transport.Mqtt;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FedEdge.Transport.Tests;

/// <summary>
/// Issue 20: a broker that accepts the TCP connection and never answers the CONNECT (too loaded, or a stalled TLS
/// listener) is an unreachable broker, not a refusal: the worker engine retries it with its back-off and connects once a
/// real broker answers on that port, and the caller's cancellation ends a pending attempt at once. The listener that
/// never answers is a real socket on 127.0.0.1; the broker that takes its port over is the real embedded one. Refusals
/// (wrong password, refused certificates) stay final: EmbeddedMqttTests and MosquittoMtlsTests pin those.
/// </summary>
[Collection(TimingSensitive.Name)]
public sealed class MqttUnansweredConnectTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string Federation = "unanswered";
    private const string Device = "quiet-1";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Theory]
    [InlineData("mqtt")]
    [InlineData("mqtts")]
    public async Task Transport_NoConnackWithinTheTimeout_IsAnUnreachableBroker_NotARefusal(string scheme)
    {
        await using var silent = new SilentListener();
        await using var transport = new MqttWorkerTransport(TransportOptions(new Uri($"{scheme}://127.0.0.1:{silent.Port}"), TimeSpan.FromMilliseconds(500)));

        // What the worker engine's retry sees: an IOException naming the endpoint (retried), not a TransportException (final).
        var error = await Assert.ThrowsAsync<BrokerUnreachableException>(async () => await transport.ConnectAsync(new RecordingWorker()));
        Assert.Contains($"127.0.0.1:{silent.Port}", error.Message, StringComparison.Ordinal);
        Assert.Contains("did not answer", error.Message, StringComparison.Ordinal);
        Assert.IsType<TimeoutException>(error.InnerException);
        await WaitUntilAsync(() => silent.Accepted == 1, "the listener to count the attempt");
    }

    [Fact]
    public async Task Transport_CallerCancelsAnUnansweredConnect_EndsAtOnce_AndCanConnectAgain()
    {
        await using var silent = new SilentListener();
        // MQTTnet's own timeout is far away: only the caller's cancellation can end these attempts.
        await using var transport = new MqttWorkerTransport(TransportOptions(new Uri($"mqtt://127.0.0.1:{silent.Port}"), TimeSpan.FromMinutes(10)));

        // Twice: the cancelled attempt releases the transport, so the next ConnectAsync starts a new one.
        for (int attempt = 1; attempt <= 2; attempt++)
        {
            using var cancel = new CancellationTokenSource();
            Task connecting = transport.ConnectAsync(new RecordingWorker(), cancel.Token).AsTask();
            await WaitUntilAsync(() => silent.Accepted == attempt, "attempt " + attempt + " reaching the listener");
            Assert.False(connecting.IsCompleted);
            await cancel.CancelAsync();

            // A hang guard, not a speed assertion: without the abort this would wait ten minutes.
            Task first = await Task.WhenAny(connecting, Task.Delay(Patience));
            Assert.Same(connecting, first);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connecting);

            // The abandoned attempt's socket is closed, not left to the broker to time out.
            await WaitUntilAsync(() => silent.ClosedByClient == attempt, "attempt " + attempt + " closing its socket");
        }
    }

    [Fact]
    public async Task Transport_WaitForBroker_RetriesUnansweredConnectsOnOneClient_UntilTheCallerCancels()
    {
        await using var silent = new SilentListener();
        MqttWorkerOptions options = TransportOptions(new Uri($"mqtt://127.0.0.1:{silent.Port}"), TimeSpan.FromMilliseconds(300));
        options.WaitForBroker = true;
        await using var transport = new MqttWorkerTransport(options);
        using var cancel = new CancellationTokenSource();

        // One MQTT client, attempt after attempt: each aborted attempt is through before the next one starts.
        Task connecting = transport.ConnectAsync(new RecordingWorker(), cancel.Token).AsTask();
        await WaitUntilAsync(() => silent.Accepted >= 3 || connecting.IsCompleted, "three unanswered attempts");
        Assert.False(connecting.IsCompleted, connecting.Exception?.ToString());
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connecting.WaitAsync(Patience));
    }

    [Fact]
    public async Task Worker_UnansweredConnects_AreRetriedAndLogged_UntilABrokerTakesThePortOver()
    {
        var logs = new ConnectFailureLog();
        var silent = new SilentListener();
        int port = silent.Port;
        var layout = new ParameterLayout(new TensorSpec("w", 4));
        await using var worker = new Worker(
            Options.Create(new WorkerOptions { DeviceId = Device, ReconnectDelay = TimeSpan.FromMilliseconds(50), MaxReconnectDelay = TimeSpan.FromMilliseconds(200) }),
            new MqttWorkerTransport(TransportOptions(new Uri($"mqtt://127.0.0.1:{port}"), TimeSpan.FromMilliseconds(400))),
            new ShiftTrainer(0.25f, 0.5, layout),
            new InMemoryDataSource(new Dataset(new float[8], new float[2], 4)),
            logger: logs);
        using var patience = new CancellationTokenSource(Patience);

        Task starting = worker.StartAsync(patience.Token).AsTask();
        await WaitUntilAsync(() => silent.Accepted >= 2 && logs.Count >= 2, "two unanswered attempts, each logged");
        Assert.False(starting.IsCompleted, "the worker gave up on a broker that only failed to answer: " + logs.Dump());
        Assert.All(logs.Messages, m => Assert.Contains("did not answer", m, StringComparison.Ordinal));
        Assert.Equal(WorkerState.Offline, worker.State);

        // The silent listener goes away (each attempt it holds is closed by the worker at its timeout, so the port is
        // left without TIME_WAIT on our side) and a real broker takes the port over.
        await silent.DisposeAsync();
        var handler = new RecordingCoordinator();
        var brokerOptions = new EmbeddedMqttBrokerOptions { Port = port, BindAddress = IPAddress.Loopback };
        brokerOptions.DevicePasswords[Device] = "pw-" + Device;
        await using var coordinator = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = Federation }, brokerHost: new EmbeddedMqttBrokerHost(brokerOptions));
        await coordinator.StartAsync(handler);
        Assert.Equal(port, coordinator.BrokerUri!.Port);

        await starting.WaitAsync(patience.Token);
        var (join, context) = await handler.NextAsync<JoinRequest>();
        Assert.Equal(Device, join.DeviceId);
        Assert.Equal(Device, context.AuthenticatedId);
        Assert.NotEqual(WorkerState.Offline, worker.State);
        output.WriteLine(logs.Dump());
    }

    private static MqttWorkerOptions TransportOptions(Uri broker, TimeSpan connectTimeout) => new()
    {
        Federation = Federation,
        DeviceId = Device,
        Password = "pw-" + Device,
        BrokerUri = broker,
        ConnectTimeout = connectTimeout,
        ReconnectMinDelay = TimeSpan.FromMilliseconds(50),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
    };

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        using var deadline = new CancellationTokenSource(Patience);
        while (!condition())
        {
            Assert.False(deadline.IsCancellationRequested, "timed out waiting for " + what);
            await Task.Delay(20, CancellationToken.None);
        }
    }

    /// <summary>
    /// A listener on 127.0.0.1 that accepts every connection and never sends a byte (a broker too loaded to answer, or a
    /// TLS listener that stalls). It counts the connections it accepted and those the client closed.
    /// </summary>
    private sealed class SilentListener : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly ConcurrentBag<Task> _held = [];
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _accepting;
        private int _accepted;
        private int _closed;
        private int _disposed;

        public SilentListener()
        {
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _accepting = AcceptAsync();
        }

        public int Port { get; }

        public int Accepted => Volatile.Read(ref _accepted);

        public int ClosedByClient => Volatile.Read(ref _closed);

        /// <summary>Stops accepting, then waits until the client has closed every connection it still held.</summary>
        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }

            _listener.Stop();
            await _accepting.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            using var deadline = new CancellationTokenSource(Patience);
            await Task.WhenAll(_held).WaitAsync(deadline.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await _stop.CancelAsync();
            _stop.Dispose();
        }

        private async Task AcceptAsync()
        {
            while (true)
            {
                Socket client;
                try
                {
                    client = await _listener.AcceptSocketAsync();
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    return;
                }

                Interlocked.Increment(ref _accepted);
                _held.Add(HoldAsync(client));
            }
        }

        // Reads (and drops) whatever the client sends, answers nothing, and closes only after the client did.
        private async Task HoldAsync(Socket client)
        {
            using (client)
            {
                byte[] buffer = new byte[4096];
                try
                {
                    while (await client.ReceiveAsync(buffer, SocketFlags.None, _stop.Token) > 0)
                    {
                    }

                    Interlocked.Increment(ref _closed);
                }
                catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
                {
                    // Reset by the client, or the test is over.
                }
            }
        }
    }

    /// <summary>Keeps the message of every "could not connect, retrying" entry (event 5021) the worker logs.</summary>
    private sealed class ConnectFailureLog : ILogger<Worker>
    {
        private readonly ConcurrentQueue<string> _messages = new();
        private readonly ConcurrentQueue<string> _all = new();

        public int Count => _messages.Count;

        public IReadOnlyList<string> Messages => [.. _messages];

        public string Dump() => string.Join("\n", _all);

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            string line = formatter(state, exception) + (exception is null ? string.Empty : " | " + exception.Message);
            _all.Enqueue($"{eventId.Id} {line}");
            if (eventId.Id == 5021)
            {
                _messages.Enqueue(line);
            }
        }
    }
}
