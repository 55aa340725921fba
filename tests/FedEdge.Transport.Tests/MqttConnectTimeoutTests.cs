using System.Net;
using System.Net.Sockets;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Messaging;
using FedEdge.Training;
using FedEdge.Transport.Mqtt;
using Microsoft.Extensions.Options;

namespace FedEdge.Transport.Tests;

/// <summary>
/// Issue 20: under load an MQTT broker may accept the TCP connection and not answer the CONNECT in time. That timeout is
/// transient (the worker engine retries it with its back-off), unlike a CONNACK that refuses (a wrong password), which
/// stays final. The broker is the real embedded one; in front of it a loopback listener the test holds accepts
/// connections and leaves the first ones unanswered, then relays the next to the broker.
/// </summary>
[Collection(TimingSensitive.Name)]
public sealed class MqttConnectTimeoutTests(Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime
{
    private const string Federation = "timeouts";
    private readonly RecordingCoordinator _handler = new();
    private MqttCoordinatorTransport _coordinator = null!;

    public async Task InitializeAsync()
    {
        var broker = new EmbeddedMqttBrokerOptions { Port = 0 };
        broker.DevicePasswords["slow-1"] = "pw-slow-1";
        _coordinator = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = Federation }, brokerHost: new EmbeddedMqttBrokerHost(broker));
        await _coordinator.StartAsync(_handler);
    }

    public async Task DisposeAsync() => await _coordinator.DisposeAsync();

    [Fact]
    public async Task Worker_ConnectTimeout_IsRetried_AndJoinsOnceTheBrokerAnswers()
    {
        await using var front = new SilentThenRelayingListener(_coordinator.BrokerUri!.Port, silentConnections: 2);
        await using Worker worker = NewWorker("pw-slow-1", new Uri($"mqtt://127.0.0.1:{front.Port}"));
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        await worker.StartAsync(patience.Token);

        Assert.Equal(2, front.SilentAccepted);
        Assert.True(front.Relayed >= 1);
        var (join, context) = await _handler.NextAsync<JoinRequest>();
        Assert.Equal("slow-1", join.DeviceId);
        Assert.Equal("slow-1", context.AuthenticatedId);
    }

    [Fact]
    public async Task Transport_ConnectTimeout_IsAnUnreachableBroker_NotARefusal()
    {
        await using var front = new SilentThenRelayingListener(_coordinator.BrokerUri!.Port, silentConnections: int.MaxValue);
        await using var transport = new MqttWorkerTransport(WorkerTransportOptions("pw-slow-1", new Uri($"mqtt://127.0.0.1:{front.Port}")));

        // The exception the worker engine's retry sees: an IOException naming the endpoint, not a TransportException.
        var error = await Assert.ThrowsAsync<BrokerUnreachableException>(async () => await transport.ConnectAsync(new RecordingWorker()));
        Assert.Contains("did not answer", error.Message, StringComparison.Ordinal);
        Assert.True(front.SilentAccepted >= 1);
    }

    [Fact]
    public async Task Worker_WrongPassword_FailsAtOnceWithTheRefusal()
    {
        await using Worker worker = NewWorker("wrong", _coordinator.BrokerUri!);
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        var error = await Assert.ThrowsAsync<TransportException>(async () => await worker.StartAsync(patience.Token));
        Assert.Contains("refused", error.Message, StringComparison.Ordinal);
        Assert.False(patience.IsCancellationRequested);
    }

    private static MqttWorkerOptions WorkerTransportOptions(string password, Uri broker) => new()
    {
        Federation = Federation,
        DeviceId = "slow-1",
        Password = password,
        BrokerUri = broker,
        ConnectTimeout = TimeSpan.FromMilliseconds(500),
        ReconnectMinDelay = TimeSpan.FromMilliseconds(50),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
    };

    private Worker NewWorker(string password, Uri broker)
    {
        var layout = new ParameterLayout(new TensorSpec("w", 4));
        var options = new WorkerOptions { DeviceId = "slow-1", ReconnectDelay = TimeSpan.FromMilliseconds(50), MaxReconnectDelay = TimeSpan.FromMilliseconds(200) };
        return new Worker(Options.Create(options), new MqttWorkerTransport(WorkerTransportOptions(password, broker)), new ShiftTrainer(0.25f, 0.5, layout), new InMemoryDataSource(new Dataset(new float[8], new float[2], 4)), logger: new TestOutputLoggerFactory(output).CreateLogger<Worker>());
    }

    /// <summary>
    /// A loopback listener that accepts connections: the first <c>silentConnections</c> it holds open and never answers
    /// (a broker too loaded to send CONNACK), every later one it relays both ways to the real broker.
    /// </summary>
    private sealed class SilentThenRelayingListener : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly int _brokerPort;
        private readonly int _silentConnections;
        private readonly List<TcpClient> _held = [];
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _accepting;
        private int _silent;
        private int _relayed;

        public SilentThenRelayingListener(int brokerPort, int silentConnections)
        {
            _brokerPort = brokerPort;
            _silentConnections = silentConnections;
            _listener.Start();
            _accepting = AcceptAsync();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public int SilentAccepted => Volatile.Read(ref _silent);

        public int Relayed => Volatile.Read(ref _relayed);

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accepting.ContinueWith(_ => { }, TaskScheduler.Default);
            lock (_held)
            {
                foreach (TcpClient client in _held)
                {
                    client.Dispose();
                }
            }

            _stop.Dispose();
        }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client = await _listener.AcceptTcpClientAsync(_stop.Token);
                lock (_held)
                {
                    _held.Add(client);
                }

                if (Volatile.Read(ref _silent) < _silentConnections)
                {
                    Interlocked.Increment(ref _silent);
                    continue;
                }

                var upstream = new TcpClient();
                await upstream.ConnectAsync(IPAddress.Loopback, _brokerPort, _stop.Token);
                lock (_held)
                {
                    _held.Add(upstream);
                }

                Interlocked.Increment(ref _relayed);
                _ = RelayAsync(client.GetStream(), upstream.GetStream());
                _ = RelayAsync(upstream.GetStream(), client.GetStream());
            }
        }

        private async Task RelayAsync(NetworkStream from, NetworkStream to)
        {
            try
            {
                await from.CopyToAsync(to, _stop.Token);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
            {
                // One side closed: the relay ends with it.
            }
        }
    }
}
