namespace FedEdge.Privacy.SecureAggregation;

/// <summary>Helpers that run a whole secure-aggregation round over any transport.</summary>
public static class SecureAggregationDriver
{
    /// <summary>
    /// Runs every server phase: waits for each phase (all answers or deadline), closes it and sends
    /// what it produced; on an abort sends the <see cref="SecAggAbort"/> to every client still in the
    /// round. The transport meanwhile feeds inbound messages to <see cref="Receive"/>. Clients must
    /// have been told to start (e.g. by the round task) so that they advertise their keys.
    /// </summary>
    /// <returns>The sum, or the abort.</returns>
    public static async Task<SecAggPhaseResult<SecAggResult>> RunAsync(this SecureAggregationServer server, IEnumerable<string> expectedClients, SecAggSendAsync send, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(expectedClients);
        ArgumentNullException.ThrowIfNull(send);
        string[] everyone = expectedClients.ToArray();
        try
        {
            await server.WaitForPhaseAsync(cancellationToken).ConfigureAwait(false);
            SecAggPhaseResult<SecAggRoster> roster = server.CompleteAdvertiseKeys();
            if (roster.IsAborted)
            {
                return await AbortAsync<SecAggResult>(roster.Abort!, everyone, send, cancellationToken).ConfigureAwait(false);
            }

            string[] participants = roster.Value!.Participants.Select(p => p.ClientId).ToArray();
            foreach (string id in participants)
            {
                await send(id, roster.Value, cancellationToken).ConfigureAwait(false);
            }

            await server.WaitForPhaseAsync(cancellationToken).ConfigureAwait(false);
            SecAggPhaseResult<IReadOnlyList<SecAggForwardedShares>> forwarded = server.CompleteShareKeys();
            if (forwarded.IsAborted)
            {
                return await AbortAsync<SecAggResult>(forwarded.Abort!, participants, send, cancellationToken).ConfigureAwait(false);
            }

            foreach (SecAggForwardedShares shares in forwarded.Value!)
            {
                await send(shares.RecipientId, shares, cancellationToken).ConfigureAwait(false);
            }

            await server.WaitForPhaseAsync(cancellationToken).ConfigureAwait(false);
            SecAggPhaseResult<SecAggUnmaskRequest> request = server.CompleteMaskedInput();
            if (request.IsAborted)
            {
                return await AbortAsync<SecAggResult>(request.Abort!, participants, send, cancellationToken).ConfigureAwait(false);
            }

            foreach (string id in request.Value!.Survivors)
            {
                await send(id, request.Value, cancellationToken).ConfigureAwait(false);
            }

            await server.WaitForPhaseAsync(cancellationToken).ConfigureAwait(false);
            SecAggPhaseResult<SecAggResult> result = server.CompleteUnmasking();
            if (result.IsAborted)
            {
                await AbortAsync<SecAggResult>(result.Abort!, participants, send, cancellationToken).ConfigureAwait(false);
            }

            return result;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            SecAggAbort abort = server.Cancel("The host cancelled the round.");
            foreach (string id in everyone)
            {
                await send(id, abort, CancellationToken.None).ConfigureAwait(false);
            }

            throw;
        }
    }

    /// <summary>Feeds any inbound secure-aggregation message to the matching server phase.</summary>
    public static SecAggReceiveResult Receive(this SecureAggregationServer server, SecAggMessage message)
    {
        ArgumentNullException.ThrowIfNull(server);
        return message switch
        {
            SecAggAdvertiseKeys m => server.Receive(m),
            SecAggShareKeys m => server.Receive(m),
            SecAggMaskedInput m => server.Receive(m),
            SecAggUnmaskResponse m => server.Receive(m),
            null => throw new ArgumentNullException(nameof(message)),
            _ => new SecAggReceiveResult(SecAggReceiveStatus.Invalid, $"{message.GetType().Name} is a server-to-client message."),
        };
    }

    /// <summary>
    /// Lets a worker answer any inbound secure-aggregation message: the roster, the forwarded shares
    /// (masking <paramref name="update"/>), the unmask request, or an abort (returns null).
    /// </summary>
    /// <exception cref="SecureAggregationException">The message breaks the protocol; abandon the round.</exception>
    public static SecAggMessage? Respond(this SecureAggregationClient client, SecAggMessage message, ReadOnlySpan<float> update)
    {
        ArgumentNullException.ThrowIfNull(client);
        switch (message)
        {
            case SecAggRoster m:
                return client.ShareKeys(m);
            case SecAggForwardedShares m:
                return client.MaskInput(m, update);
            case SecAggUnmaskRequest m:
                return client.Unmask(m);
            case SecAggAbort m:
                client.OnAbort(m);
                return null;
            case null:
                throw new ArgumentNullException(nameof(message));
            default:
                throw new SecureAggregationException(client.Phase, SecAggAbortReason.ProtocolViolation, $"{message.GetType().Name} is a client-to-server message.");
        }
    }

    private static async Task<SecAggPhaseResult<T>> AbortAsync<T>(SecAggAbort abort, IEnumerable<string> recipients, SecAggSendAsync send, CancellationToken cancellationToken)
        where T : class
    {
        foreach (string id in recipients)
        {
            await send(id, abort, cancellationToken).ConfigureAwait(false);
        }

        return SecAggPhaseResult<T>.Aborted(abort);
    }
}
