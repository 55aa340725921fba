using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FedEdge.Privacy.SecureAggregation;

/// <summary>The built-in <see cref="ISecureAggregationCoordinator"/>: Bonawitz et al. SecAgg / SecAgg+ servers.</summary>
internal sealed class SecureAggregationCoordinator : ISecureAggregationCoordinator
{
    private readonly SecureAggregationOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public SecureAggregationCoordinator(IOptions<SecureAggregationOptions> options, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _options.Validate();
        _time = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)loggerFactory?.CreateLogger("FedEdge.Privacy.SecureAggregation") ?? NullLogger.Instance;
    }

    public ISecureAggregationServerRound BeginRound(long round, string nonce, int vectorLength, IReadOnlyCollection<string> clients)
    {
        ArgumentNullException.ThrowIfNull(clients);
        return new ServerRound(new SecureAggregationServer(_options, round, nonce, vectorLength, clients, _time, _logger), clients.ToArray());
    }

    private sealed class ServerRound(SecureAggregationServer server, string[] clients) : ISecureAggregationServerRound
    {
        public SecAggPhase Phase => server.Phase;

        public SecAggReceiveResult Receive(SecAggMessage message) => server.Receive(message);

        public async Task<SecureSum> RunAsync(SecAggSendAsync send, CancellationToken cancellationToken = default)
        {
            SecAggPhaseResult<SecAggResult> result = await server.RunAsync(clients, send, cancellationToken).ConfigureAwait(false);
            return result.IsAborted
                ? new SecureSum { Abort = result.Abort }
                : new SecureSum
                {
                    Sum = result.Value!.Sum,
                    Contributors = result.Value.Contributors,
                    RecoveredDropouts = result.Value.RecoveredDropouts,
                    ErrorBound = result.Value.QuantizationErrorBound,
                    Roster = [.. server.Roster?.Participants.Select(p => p.ClientId) ?? []],
                    Threshold = server.Roster?.Threshold ?? 0,
                };
        }
    }
}

/// <summary>The built-in <see cref="ISecureAggregationWorker"/>.</summary>
internal sealed class SecureAggregationWorker : ISecureAggregationWorker
{
    public ISecureAggregationClientRound BeginRound(string clientId, long round, string nonce) => new ClientRound(new SecureAggregationClient(clientId, round, nonce));

    private sealed class ClientRound(SecureAggregationClient client) : ISecureAggregationClientRound
    {
        public SecAggPhase Phase => client.Phase;

        public SecAggAdvertiseKeys AdvertiseKeys() => client.AdvertiseKeys();

        public SecAggMessage? Respond(SecAggMessage message, ReadOnlySpan<float> update) => client.Respond(message, update);

        public void Dispose() => client.Dispose();
    }
}

/// <summary>Validates <see cref="SecureAggregationOptions"/> when the host starts.</summary>
internal sealed class SecureAggregationOptionsValidator : IValidateOptions<SecureAggregationOptions>
{
    public ValidateOptionsResult Validate(string? name, SecureAggregationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        try
        {
            options.Validate();
            return ValidateOptionsResult.Success;
        }
        catch (ArgumentException ex)
        {
            return ValidateOptionsResult.Fail(ex.Message);
        }
    }
}
