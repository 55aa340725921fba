using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Training;
using FedEdge.Transport.Codecs;
using FedEdge.Transport.Wire.Proto;
using Google.Protobuf;

namespace FedEdge.Transport.Wire;

/// <summary>
/// Maps FedEdge's Core records to the protobuf wire schema (<c>Protos/fededge.proto</c>) and back.
/// Decoding never trusts its input: every malformed byte string ends in a <see cref="WireFormatException"/>
/// (or its <see cref="ProtocolVersionException"/> subtype) that says what was wrong.
/// </summary>
public static class WireSerializer
{
    /// <summary>Serializes a message as an envelope; parameters are encoded with <paramref name="codec"/> (float32 when null).</summary>
    /// <exception cref="ArgumentException">The body is not a FedEdge message record.</exception>
    /// <exception cref="ParameterCodecException">The codec cannot encode the parameters.</exception>
    public static byte[] Serialize(WireMessage message, IParameterCodec? codec = null)
    {
        ArgumentNullException.ThrowIfNull(message);
        codec ??= ParameterCodecs.Float32;
        var envelope = new Envelope
        {
            ProtocolVersion = (uint)message.ProtocolVersion,
            MessageId = message.MessageId,
            CorrelationId = message.CorrelationId ?? string.Empty,
            SenderId = message.SenderId,
        };
        switch (message.Body)
        {
            case JoinRequest join:
                envelope.JoinRequest = ToProto(join);
                break;
            case JoinResponse response:
                envelope.JoinResponse = new JoinResponseMessage { Accepted = response.Accepted, Reasons = { response.Reasons } };
                break;
            case DeviceStatus status:
                envelope.DeviceStatus = ToProto(status, message.IsLastWill);
                break;
            case RoundTask task:
                envelope.RoundTask = ToProto(task, codec);
                break;
            case RoundTaskReference reference:
                envelope.RoundTask = ToProto(reference.Task, codec, withParameters: false);
                envelope.RoundTask.GlobalModelHash = reference.ModelHash;
                break;
            case ModelUpdate update:
                if (update.Encoded is null && codec.Kind == ParameterCodecKind.TopK && update.Kind != UpdateKind.Delta)
                {
                    throw new ParameterCodecException("Top-k sparsification applies to delta updates only; send UpdateKind.Delta or choose another codec.");
                }

                envelope.ModelUpdate = ToProto(update, codec);
                break;
            case GlobalModel model:
                envelope.GlobalModel = new GlobalModelMessage
                {
                    Version = model.Version,
                    Hash = model.Hash,
                    Parameters = ToProto(model.Parameters, codec),
                    Metadata = { Copy(model.Metadata) },
                };
                break;
            case UpdateReceipt receipt:
                envelope.UpdateReceipt = new UpdateReceiptMessage { Round = receipt.Round, Accepted = receipt.Accepted, Reason = receipt.Reason ?? string.Empty };
                break;
            case ProtocolPayload protocol:
                envelope.ProtocolPayload = new ProtocolPayloadMessage { Payload = ByteString.CopyFrom(protocol.Payload.Span) };
                break;
            default:
                throw new ArgumentException($"{message.Body?.GetType().Name ?? "null"} is not a FedEdge message record.", nameof(message));
        }

        return envelope.ToByteArray();
    }

    /// <summary>Decodes an envelope.</summary>
    /// <exception cref="ProtocolVersionException">The sender speaks another protocol version (the message is a join request: <see cref="PeekJoinVersion"/> lets a coordinator answer it).</exception>
    /// <exception cref="WireFormatException">The bytes are not a valid FedEdge message.</exception>
    public static WireMessage Deserialize(ReadOnlySpan<byte> envelopeBytes)
    {
        Envelope envelope = ParseEnvelope(envelopeBytes);
        if (envelope.ProtocolVersion != (uint)Messaging.ProtocolVersion.Current)
        {
            throw new ProtocolVersionException((int)Math.Min(envelope.ProtocolVersion, int.MaxValue), Messaging.ProtocolVersion.Current);
        }

        if (string.IsNullOrEmpty(envelope.MessageId))
        {
            throw new WireFormatException("The envelope has no message id.");
        }

        object body = envelope.BodyCase switch
        {
            Envelope.BodyOneofCase.JoinRequest => FromProto(envelope.JoinRequest),
            Envelope.BodyOneofCase.JoinResponse => new JoinResponse { Accepted = envelope.JoinResponse.Accepted, Reasons = envelope.JoinResponse.Reasons.ToArray() },
            Envelope.BodyOneofCase.DeviceStatus => FromProto(envelope.DeviceStatus),
            Envelope.BodyOneofCase.RoundTask when envelope.RoundTask.GlobalParameters is null && envelope.RoundTask.GlobalModelHash.Length > 0 => ReferenceFromProto(envelope.RoundTask),
            Envelope.BodyOneofCase.RoundTask => FromProto(envelope.RoundTask),
            Envelope.BodyOneofCase.ModelUpdate => FromProtoNamingRound(envelope.ModelUpdate),
            Envelope.BodyOneofCase.GlobalModel => FromProto(envelope.GlobalModel),
            Envelope.BodyOneofCase.UpdateReceipt => new UpdateReceipt
            {
                Round = envelope.UpdateReceipt.Round,
                Accepted = envelope.UpdateReceipt.Accepted,
                Reason = envelope.UpdateReceipt.Reason.Length == 0 ? null : envelope.UpdateReceipt.Reason,
            },
            Envelope.BodyOneofCase.ProtocolPayload => new ProtocolPayload(envelope.ProtocolPayload.Payload.Memory),
            _ => throw new WireFormatException("The envelope carries no message body (or one this build does not know)."),
        };

        return new WireMessage
        {
            MessageId = envelope.MessageId,
            CorrelationId = envelope.CorrelationId.Length == 0 ? null : envelope.CorrelationId,
            SenderId = envelope.SenderId,
            ProtocolVersion = (int)envelope.ProtocolVersion,
            IsLastWill = envelope.BodyCase == Envelope.BodyOneofCase.DeviceStatus && envelope.DeviceStatus.LastWill,
            Body = body,
        };
    }

    /// <summary>
    /// Reads only the protocol version, message id and (for a join request) device id of an envelope, so that
    /// a coordinator can answer a worker of another protocol version with a clear refusal.
    /// Returns false when the bytes are not an envelope.
    /// </summary>
    public static bool PeekJoinVersion(ReadOnlySpan<byte> envelopeBytes, out int protocolVersion, out string messageId, out string? joiningDeviceId)
    {
        protocolVersion = 0;
        messageId = string.Empty;
        joiningDeviceId = null;
        Envelope envelope;
        try
        {
            envelope = Envelope.Parser.ParseFrom(envelopeBytes);
        }
        catch (InvalidProtocolBufferException)
        {
            return false;
        }

        protocolVersion = (int)Math.Min(envelope.ProtocolVersion, int.MaxValue);
        messageId = envelope.MessageId;
        joiningDeviceId = envelope.BodyCase == Envelope.BodyOneofCase.JoinRequest ? envelope.JoinRequest.DeviceId : null;
        return true;
    }

    internal static Envelope ParseEnvelope(ReadOnlySpan<byte> envelopeBytes)
    {
        try
        {
            return Envelope.Parser.ParseFrom(envelopeBytes);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new WireFormatException($"The {envelopeBytes.Length} bytes are not a FedEdge envelope: {ex.Message}", ex);
        }
    }

    private static JoinRequestMessage ToProto(JoinRequest join)
    {
        var proto = new JoinRequestMessage
        {
            DeviceId = join.DeviceId,
            ProtocolVersion = (uint)join.ProtocolVersion,
            MudUrl = join.MudUrl?.OriginalString ?? string.Empty,
            CertificateDer = ByteString.CopyFrom(join.CertificateDer.Span),
            Task = join.Task ?? string.Empty,
            Model = join.Model ?? string.Empty,
        };
        proto.Capabilities.Add(Copy(join.Capabilities));
        return proto;
    }

    private static JoinRequest FromProto(JoinRequestMessage proto)
    {
        RequireText(proto.DeviceId, "join request", "device_id");
        Uri? mud = null;
        if (proto.MudUrl.Length > 0 && !Uri.TryCreate(proto.MudUrl, UriKind.Absolute, out mud))
        {
            throw new WireFormatException($"The join request's MUD URL '{proto.MudUrl}' is not an absolute URI.");
        }

        return new JoinRequest
        {
            DeviceId = proto.DeviceId,
            ProtocolVersion = (int)Math.Min(proto.ProtocolVersion, int.MaxValue),
            MudUrl = mud,
            CertificateDer = proto.CertificateDer.ToByteArray(),
            Task = proto.Task.Length == 0 ? null : proto.Task,
            Model = proto.Model.Length == 0 ? null : proto.Model,
            Capabilities = new Dictionary<string, string>(proto.Capabilities, StringComparer.Ordinal),
        };
    }

    private static DeviceStatusMessage ToProto(DeviceStatus status, bool lastWill)
    {
        var proto = new DeviceStatusMessage
        {
            DeviceId = status.DeviceId,
            Intent = status.Intent switch
            {
                DeviceIntent.Training => DeviceIntentMessage.DeviceIntentTraining,
                DeviceIntent.Inference => DeviceIntentMessage.DeviceIntentInference,
                _ => DeviceIntentMessage.DeviceIntentNotReady,
            },
            LastWill = lastWill,
            Reason = status.Reason ?? string.Empty,
        };
        if (status.ActiveRound is long active)
        {
            proto.ActiveRound = active;
            proto.ActiveNonce = status.ActiveNonce ?? string.Empty;
        }

        DeviceTelemetry t = status.Telemetry;
        if (t.TemperatureCelsius is double temp)
        {
            proto.TemperatureCelsius = temp;
        }

        if (t.Throttled is bool throttled)
        {
            proto.Throttled = throttled;
        }

        if (t.FreeMemoryBytes is long free)
        {
            proto.FreeMemoryBytes = free;
        }

        if (t.SampleCount is long samples)
        {
            proto.SampleCount = samples;
        }

        if (t.LoadAverage is double load)
        {
            proto.LoadAverage = load;
        }

        if (t.BytesSent is long sent)
        {
            proto.BytesSent = sent;
        }

        if (t.BytesReceived is long received)
        {
            proto.BytesReceived = received;
        }

        return proto;
    }

    private static DeviceStatus FromProto(DeviceStatusMessage proto)
    {
        RequireText(proto.DeviceId, "device status", "device_id");
        DeviceIntent intent = proto.Intent switch
        {
            DeviceIntentMessage.DeviceIntentNotReady => DeviceIntent.NotReady,
            DeviceIntentMessage.DeviceIntentTraining => DeviceIntent.Training,
            DeviceIntentMessage.DeviceIntentInference => DeviceIntent.Inference,
            _ => throw new WireFormatException($"Device status intent {(int)proto.Intent} is unknown."),
        };
        return new DeviceStatus
        {
            DeviceId = proto.DeviceId,
            Intent = intent,
            Reason = proto.Reason.Length == 0 ? null : proto.Reason,
            ActiveRound = proto.HasActiveRound && proto.ActiveRound > 0 ? proto.ActiveRound : null,
            ActiveNonce = proto.HasActiveRound && proto.ActiveNonce.Length > 0 ? proto.ActiveNonce : null,
            Telemetry = new DeviceTelemetry
            {
                TemperatureCelsius = proto.HasTemperatureCelsius ? proto.TemperatureCelsius : null,
                Throttled = proto.HasThrottled ? proto.Throttled : null,
                FreeMemoryBytes = proto.HasFreeMemoryBytes ? proto.FreeMemoryBytes : null,
                SampleCount = proto.HasSampleCount ? proto.SampleCount : null,
                LoadAverage = proto.HasLoadAverage ? proto.LoadAverage : null,
                BytesSent = proto.HasBytesSent ? proto.BytesSent : null,
                BytesReceived = proto.HasBytesReceived ? proto.BytesReceived : null,
            },
        };
    }

    private static RoundTaskMessage ToProto(RoundTask task, IParameterCodec codec, bool withParameters = true)
    {
        TrainingHyperParameters h = task.HyperParameters;
        var hyper = new HyperParametersMessage
        {
            LocalEpochs = h.LocalEpochs,
            BatchSize = h.BatchSize,
            LearningRate = h.LearningRate,
            ProximalMu = h.ProximalMu,
            Seed = h.Seed,
            Extra = { Copy(h.Extra) },
        };
        if (h.LocalIterations is int iterations)
        {
            hyper.LocalIterations = iterations;
        }

        if (h.MicroBatchSize is int micro)
        {
            hyper.MicroBatchSize = micro;
        }

        return new RoundTaskMessage
        {
            Round = task.Round,
            Nonce = task.Nonce,
            GlobalParameters = withParameters ? ToProto(task.GlobalParameters, codec) : null,
            HyperParameters = hyper,
            DeadlineUnixMs = task.Deadline.ToUnixTimeMilliseconds(),
            Config = { Copy(task.Config) },
            UpdateCodec = task.UpdateCodec ?? string.Empty,
        };
    }

    private static RoundTask FromProto(RoundTaskMessage proto) => TaskFromProto(proto, null);

    private static ReferencedRoundTask ReferenceFromProto(RoundTaskMessage proto)
    {
        if (proto.GlobalModelHash.Length != 64 || !proto.GlobalModelHash.All(char.IsAsciiHexDigitLower))
        {
            throw new WireFormatException("The round task's global_model_hash is not a lower-case SHA-256 hex digest.");
        }

        // Check every other field now, so that a malformed task is reported where it arrives.
        _ = TaskFromProto(proto, Placeholder);
        return new ReferencedRoundTask(proto);
    }

    private static readonly ParameterSet Placeholder = new(new ParameterLayout(new TensorSpec("reference", [1])));

    /// <summary>A round task from its message; <paramref name="parameters"/>, when given, replaces the message's global parameters.</summary>
    internal static RoundTask TaskFromProto(RoundTaskMessage proto, ParameterSet? parameters)
    {
        RequireText(proto.Nonce, "round task", "nonce");
        if (proto.HyperParameters is null)
        {
            throw new WireFormatException("The round task has no hyper-parameters.");
        }

        HyperParametersMessage h = proto.HyperParameters;
        if (proto.DeadlineUnixMs < -62135596800000L || proto.DeadlineUnixMs > 253402300799999L)
        {
            throw new WireFormatException($"The round task's deadline {proto.DeadlineUnixMs} ms is outside the representable range.");
        }

        return new RoundTask
        {
            Round = proto.Round,
            Nonce = proto.Nonce,
            GlobalParameters = parameters ?? FromProto(proto.GlobalParameters, "round task global_parameters"),
            HyperParameters = new TrainingHyperParameters
            {
                LocalEpochs = h.LocalEpochs,
                LocalIterations = h.HasLocalIterations ? h.LocalIterations : null,
                BatchSize = h.BatchSize,
                MicroBatchSize = h.HasMicroBatchSize ? h.MicroBatchSize : null,
                LearningRate = h.LearningRate,
                ProximalMu = h.ProximalMu,
                Seed = h.Seed,
                Extra = new Dictionary<string, string>(h.Extra, StringComparer.Ordinal),
            },
            Deadline = DateTimeOffset.FromUnixTimeMilliseconds(proto.DeadlineUnixMs),
            Config = new Dictionary<string, string>(proto.Config, StringComparer.Ordinal),
            UpdateCodec = proto.UpdateCodec.Length == 0 ? null
                : UpdateCodecSpec.TryParse(proto.UpdateCodec, out _, out _, out string problem) ? UpdateCodecSpec.Normalize(proto.UpdateCodec)
                : throw new WireFormatException($"The round task names an unknown update codec: {problem}"),
        };
    }

    private static ModelUpdateMessage ToProto(ModelUpdate update, IParameterCodec codec) => new()
    {
        SenderId = update.SenderId,
        Round = update.Round,
        Nonce = update.Nonce,
        SampleCount = update.SampleCount,
        Kind = update.Kind == UpdateKind.Delta ? UpdateKindMessage.UpdateKindDelta : UpdateKindMessage.UpdateKindParameters,
        Values = update.Encoded is { } encoded ? ToProto(update.Layout, encoded) : ToProto(update.Values, codec),
        Metrics = { Copy(update.Metrics) },
        Signature = Google.Protobuf.ByteString.CopyFrom(update.Signature.Span),
    };

    /// <summary>Decodes an update; content that cannot be used is an <see cref="UpdateFormatException"/> naming the update's round.</summary>
    private static ModelUpdate FromProtoNamingRound(ModelUpdateMessage proto)
    {
        try
        {
            return FromProto(proto);
        }
        catch (Exception ex) when (ex is WireFormatException or ParameterCodecException or ArgumentException or OverflowException)
        {
            throw new UpdateFormatException(proto.Round, $"The model update for round {proto.Round} cannot be decoded: {ex.Message}", ex);
        }
    }

    private static ModelUpdate FromProto(ModelUpdateMessage proto)
    {
        RequireText(proto.SenderId, "model update", "sender_id");
        RequireText(proto.Nonce, "model update", "nonce");
        if (proto.SampleCount < 0)
        {
            throw new WireFormatException($"The model update's sample count {proto.SampleCount} is negative.");
        }

        UpdateKind kind = proto.Kind switch
        {
            UpdateKindMessage.UpdateKindParameters => UpdateKind.Parameters,
            UpdateKindMessage.UpdateKindDelta => UpdateKind.Delta,
            _ => throw new WireFormatException($"Update kind {(int)proto.Kind} is unknown."),
        };
        // The values stay encoded: the coordinator checks the sender, the signature over these bytes and the claimed
        // layout first, and only then decodes (so a forged update never makes it allocate).
        ParameterLayout layout = LayoutOf(proto.Values, "model update values");
        var codec = (ParameterCodecKind)(int)proto.Values.Codec;
        ParameterCodecs.RequireDenseLength(codec, layout, proto.Values.Data.Span);
        long round = proto.Round;
        return new ModelUpdate(proto.SenderId, proto.Round, proto.Nonce, proto.SampleCount, layout, new EncodedValues(CodecName(codec), proto.Values.Data.Memory), (claimed, data) => DecodeUpdateValues(codec, claimed, data, round))
        {
            Kind = kind,
            Metrics = new Dictionary<string, double>(proto.Metrics, StringComparer.Ordinal),
            Signature = proto.Signature.Length is 0 or 64 ? proto.Signature.ToByteArray() : throw new WireFormatException($"The model update's signature has {proto.Signature.Length} bytes; an ECDSA P-256 signature has 64."),
        };
    }

    private static GlobalModel FromProto(GlobalModelMessage proto)
    {
        ParameterSet parameters = FromProto(proto.Parameters, "global model parameters");
        string hash = parameters.ComputeHash();
        if (!string.Equals(hash, proto.Hash, StringComparison.OrdinalIgnoreCase) && proto.Parameters.Codec == ParameterCodecMessage.ParameterCodecFloat32)
        {
            throw new WireFormatException($"The global model's parameters hash to {hash} but the message says {proto.Hash}; the model was altered in transit.");
        }

        return new GlobalModel
        {
            Version = proto.Version,
            Hash = proto.Hash,
            Parameters = parameters,
            Metadata = new Dictionary<string, string>(proto.Metadata, StringComparer.Ordinal),
        };
    }

    internal static ParameterSetMessage ToProto(ParameterSet parameters, IParameterCodec codec)
    {
        var proto = new ParameterSetMessage
        {
            Codec = (ParameterCodecMessage)(int)codec.Kind,
            Data = UnsafeByteOperations.UnsafeWrap(codec.Encode(parameters)),
        };
        foreach (TensorSpec spec in parameters.Layout.Tensors)
        {
            proto.Tensors.Add(new TensorSpecMessage { Name = spec.Name, Shape = { spec.Shape } });
        }

        return proto;
    }

    /// <summary>Values a codec already encoded (the bytes the worker signed), sent as they are.</summary>
    private static ParameterSetMessage ToProto(ParameterLayout layout, EncodedValues encoded)
    {
        var proto = new ParameterSetMessage
        {
            Codec = (ParameterCodecMessage)(int)ParameterCodecs.KindOf(encoded.Codec),
            Data = UnsafeByteOperations.UnsafeWrap(encoded.Data),
        };
        foreach (TensorSpec spec in layout.Tensors)
        {
            proto.Tensors.Add(new TensorSpecMessage { Name = spec.Name, Shape = { spec.Shape } });
        }

        return proto;
    }

    /// <summary>Decodes an update's values when the coordinator asks; what cannot be decoded is a <see cref="FormatException"/>.</summary>
    private static ParameterSet DecodeUpdateValues(ParameterCodecKind codec, ParameterLayout layout, ReadOnlyMemory<byte> data, long round)
    {
        try
        {
            return ParameterCodecs.Decode(codec, layout, data.Span);
        }
        catch (Exception ex) when (ex is WireFormatException or ParameterCodecException or ArgumentException or OverflowException)
        {
            throw new FormatException($"The model update for round {round} cannot be decoded: {ex.Message}", ex);
        }
    }

    internal static ParameterSet FromProto(ParameterSetMessage? proto, string what)
    {
        ParameterLayout layout = LayoutOf(proto, what);
        return ParameterCodecs.Decode((ParameterCodecKind)(int)proto!.Codec, layout, proto.Data.Span);
    }

    /// <summary>The wire name of a codec an update names; an unknown one is refused as decoding would refuse it.</summary>
    private static string CodecName(ParameterCodecKind codec)
    {
        try
        {
            return ParameterCodecs.NameOf(codec);
        }
        catch (ArgumentOutOfRangeException)
        {
            throw new WireFormatException($"Unknown parameter codec {(int)codec}; this build knows float32, float16, int8, top-k and sparse float16.");
        }
    }

    private static ParameterLayout LayoutOf(ParameterSetMessage? proto, string what)
    {
        if (proto is null || proto.Tensors.Count == 0)
        {
            throw new WireFormatException($"The {what} are missing or have no tensors.");
        }

        ParameterLayout layout;
        try
        {
            layout = new ParameterLayout(proto.Tensors.Select(t => new TensorSpec(t.Name, t.Shape.ToArray())));
        }
        catch (ArgumentException ex)
        {
            throw new WireFormatException($"The {what} have an invalid layout: {ex.Message}", ex);
        }
        catch (OverflowException ex)
        {
            throw new WireFormatException($"The {what} have a layout too large to hold: {ex.Message}", ex);
        }

        return layout;
    }

    private static Dictionary<string, T> Copy<T>(IReadOnlyDictionary<string, T> source) => source.ToDictionary(StringComparer.Ordinal);

    private static void RequireText(string value, string message, string field)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new WireFormatException($"The {message} has no {field}.");
        }
    }
}

/// <summary>
/// The body of a <see cref="WireMessage"/> that carries an opaque protocol payload (secure aggregation):
/// the bytes a transport's <c>SendProtocolAsync</c> was given, delivered unchanged to <c>OnProtocolAsync</c>.
/// </summary>
/// <param name="Payload">The payload bytes.</param>
internal sealed record ProtocolPayload(ReadOnlyMemory<byte> Payload);
