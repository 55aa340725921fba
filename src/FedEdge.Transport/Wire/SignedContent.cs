using FedEdge.Messaging;
using FedEdge.Security;

namespace FedEdge.Transport.Wire;

/// <summary>What a receiving engine verifies by signature before it uses it, so may arrive without framing digests.</summary>
internal enum VerifiedContent
{
    /// <summary>Nothing: every chunk must carry its digests (a plain federation, a handler without credentials).</summary>
    None = 0,

    /// <summary>Model updates: the coordinator verifies each device's signature against its certificate.</summary>
    Updates,

    /// <summary>Global models: the worker accepts only models its trusted coordinator signed.</summary>
    Models,
}

/// <summary>
/// The rule for chunk digests on signed messages. A sender leaves a chunked message's SHA-256 digests out only when it
/// signed the message end to end; a receiver takes such a message only when its engine will verify that signature before
/// using it, and only for the kind of message the signature covers. Anything else without digests is refused, so a
/// device cannot skip the integrity check where no signature stands in for it.
/// </summary>
internal static class SignedContent
{
    /// <summary>True for a message that carries an end-to-end signature: a signed update or a signed global model.</summary>
    public static bool IsSigned(WireMessage message) => message.Body switch
    {
        ModelUpdate update => !update.Signature.IsEmpty,
        GlobalModel model => model.Metadata.ContainsKey(UpdateSigning.ModelSignatureKey),
        _ => false,
    };

    /// <summary>What a coordinator handler verifies.</summary>
    public static VerifiedContent Of(ICoordinatorHandler handler) => handler.VerifiesUpdateSignatures ? VerifiedContent.Updates : VerifiedContent.None;

    /// <summary>What a worker handler verifies.</summary>
    public static VerifiedContent Of(IWorkerHandler handler) => handler.VerifiesModelSignatures ? VerifiedContent.Models : VerifiedContent.None;

    /// <summary>
    /// Throws unless <paramref name="message"/>, reassembled from chunks without digests, is signed and of the kind
    /// <paramref name="verified"/> names (so a signature check covers it before use).
    /// </summary>
    /// <exception cref="MissingChunkDigestException">No signature check covers the message.</exception>
    public static void RequireCovered(WireMessage message, VerifiedContent verified, string transferId)
    {
        bool covered = IsSigned(message) && verified switch
        {
            VerifiedContent.Updates => message.Body is ModelUpdate,
            VerifiedContent.Models => message.Body is GlobalModel,
            _ => false,
        };
        if (!covered)
        {
            throw new MissingChunkDigestException(transferId, $"the chunks carried no SHA-256 digests but the message is {(IsSigned(message) ? "a signed " : "an unsigned ")}{message.Body.GetType().Name}, which no signature check here covers; only signed updates to a coordinator that verifies them and signed global models to a worker that verifies them may travel without digests. The message is discarded.");
        }
    }
}
