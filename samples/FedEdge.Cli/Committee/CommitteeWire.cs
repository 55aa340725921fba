using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using FedEdge.Transparency;

namespace FedEdge.Cli.Committee;

/// <summary>
/// The JSON a coordinator and a <c>fededge validator</c> exchange over HTTPS (POST /cosign): the request with its head,
/// proofs and entries (base64 leaf bytes, so a validator hashes exactly what the log holds), and, in plaintext rounds,
/// the previous model and the folded updates (layout + little-endian float32 base64); the answer is a co-signature or
/// a refusal. Everything a reader parses is hostile until checked: a malformed body is an <see cref="InvalidDataException"/>.
/// </summary>
internal static class CommitteeWire
{
    public static string Request(CoSignRequest r) => new JsonObject
    {
        ["round"] = r.Round,
        ["head"] = JsonNode.Parse(r.Head.ToJson()),
        ["previous_size"] = r.PreviousSize,
        ["consistency"] = Hashes(r.ConsistencyProof),
        ["entries"] = new JsonArray([.. r.Entries.Select(e => (JsonNode)Convert.ToBase64String(e.Span))]),
        ["inclusion"] = new JsonArray([.. r.InclusionProofs.Select(p => (JsonNode)Hashes(p))]),
        ["previous_global"] = r.PreviousGlobal is null ? null : Parameters(r.PreviousGlobal),
        ["updates"] = r.Updates is null ? null : new JsonArray([.. r.Updates.Select(u => (JsonNode)new JsonObject
        {
            ["sender"] = u.SenderId,
            ["round"] = u.Round,
            ["nonce"] = u.Nonce,
            ["samples"] = u.SampleCount,
            ["kind"] = u.Kind == UpdateKind.Delta ? "delta" : "parameters",
            ["values"] = Parameters(u.Values),
            ["encoded"] = u.Encoded is { } e ? new JsonObject { ["codec"] = e.Codec, ["data"] = Convert.ToBase64String(e.Data.Span) } : null,
        })]),
        ["strategy_state"] = r.PreviousStrategyState is { } state ? new JsonObject
        {
            ["strategy"] = state.Strategy,
            ["arrays"] = new JsonObject(state.Arrays.Select(a => KeyValuePair.Create(a.Key, (JsonNode?)Convert.ToBase64String(MemoryMarshal.AsBytes(a.Value.AsSpan()))))),
            ["scalars"] = new JsonObject(state.Scalars.Select(a => KeyValuePair.Create(a.Key, (JsonNode?)a.Value))),
        } : null,
        ["secure_sum"] = r.SecureSum.IsEmpty ? null : Convert.ToBase64String(MemoryMarshal.AsBytes(r.SecureSum.Span)),
    }.ToJsonString();

    public static CoSignRequest ParseRequest(string json)
    {
        try
        {
            JsonNode root = JsonNode.Parse(json) ?? throw new InvalidDataException("empty body");
            return new CoSignRequest
            {
                Round = root["round"]!.GetValue<long>(),
                Head = SignedTreeHead.Parse(root["head"]!.ToJsonString()),
                PreviousSize = root["previous_size"]!.GetValue<long>(),
                ConsistencyProof = ReadHashes(root["consistency"]!),
                Entries = [.. root["entries"]!.AsArray().Select(e => (ReadOnlyMemory<byte>)Convert.FromBase64String(e!.GetValue<string>()))],
                InclusionProofs = [.. root["inclusion"]!.AsArray().Select(p => ReadHashes(p!))],
                PreviousGlobal = root["previous_global"] is { } g ? ReadParameters(g) : null,
                Updates = root["updates"] is JsonArray updates ? [.. updates.Select(u => new ModelUpdate
                {
                    SenderId = u!["sender"]!.GetValue<string>(),
                    Round = u["round"]!.GetValue<long>(),
                    Nonce = u["nonce"]!.GetValue<string>(),
                    SampleCount = u["samples"]!.GetValue<long>(),
                    Kind = u["kind"]!.GetValue<string>() == "delta" ? UpdateKind.Delta : UpdateKind.Parameters,
                    Values = ReadParameters(u["values"]!),
                    Encoded = u["encoded"] is { } e ? new EncodedValues(e["codec"]!.GetValue<string>(), Convert.FromBase64String(e["data"]!.GetValue<string>())) : null,
                })] : null,
                PreviousStrategyState = root["strategy_state"] is { } state ? new FedEdge.Aggregation.StrategyState
                {
                    Strategy = state["strategy"]!.GetValue<string>(),
                    Arrays = state["arrays"]!.AsObject().ToDictionary(a => a.Key, a => ReadFloats(a.Value!.GetValue<string>()), StringComparer.Ordinal),
                    Scalars = state["scalars"]!.AsObject().ToDictionary(a => a.Key, a => a.Value!.GetValue<double>(), StringComparer.Ordinal),
                } : null,
                SecureSum = root["secure_sum"] is { } sum ? ReadFloats(sum.GetValue<string>()) : ReadOnlyMemory<float>.Empty,
            };
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or NullReferenceException or InvalidOperationException or FormatException or ArgumentException or InvalidCastException)
        {
            throw new InvalidDataException("not a co-sign request: " + ex.Message, ex);
        }
    }

    public static string Verdict(WitnessVerdict v) => new JsonObject
    {
        ["witness"] = v.CoSignature?.Witness,
        ["signature"] = v.CoSignature is { } c ? Convert.ToBase64String(c.Signature.Span) : null,
        ["refusal"] = v.Refusal,
        ["last_signed_size"] = v.LastSignedSize,
    }.ToJsonString();

    public static WitnessVerdict ParseVerdict(string json)
    {
        try
        {
            JsonNode root = JsonNode.Parse(json) ?? throw new InvalidDataException("empty body");
            long? last = root["last_signed_size"]?.GetValue<long>();
            return root["signature"] is { } s
                ? WitnessVerdict.Signed(new CoSignature(root["witness"]!.GetValue<string>(), Convert.FromBase64String(s.GetValue<string>())))
                : WitnessVerdict.Refused(root["refusal"]?.GetValue<string>() ?? "no reason given", last);
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or NullReferenceException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException("not a validator answer: " + ex.Message, ex);
        }
    }

    private static float[] ReadFloats(string base64)
    {
        byte[] bytes = Convert.FromBase64String(base64);
        if (bytes.Length % sizeof(float) != 0)
        {
            throw new InvalidDataException($"{bytes.Length} bytes are not whole float32 values");
        }

        return MemoryMarshal.Cast<byte, float>(bytes).ToArray();
    }

    private static JsonArray Hashes(IReadOnlyList<byte[]> hashes) => new([.. hashes.Select(h => (JsonNode)Convert.ToBase64String(h))]);

    private static List<byte[]> ReadHashes(JsonNode node) => [.. node.AsArray().Select(h => Convert.FromBase64String(h!.GetValue<string>()))];

    private static JsonObject Parameters(ParameterSet p) => new()
    {
        ["tensors"] = new JsonArray([.. p.Layout.Tensors.Select(t => (JsonNode)new JsonObject { ["name"] = t.Name, ["shape"] = new JsonArray([.. t.Shape.Select(d => (JsonNode)d)]) })]),
        ["values"] = Convert.ToBase64String(MemoryMarshal.AsBytes(p.Values)),
    };

    private static ParameterSet ReadParameters(JsonNode node)
    {
        var layout = new ParameterLayout(node["tensors"]!.AsArray().Select(t => new TensorSpec(t!["name"]!.GetValue<string>(), [.. t["shape"]!.AsArray().Select(d => d!.GetValue<int>())])));
        byte[] bytes = Convert.FromBase64String(node["values"]!.GetValue<string>());
        if (bytes.Length != layout.TotalLength * sizeof(float))
        {
            throw new InvalidDataException($"the values hold {bytes.Length} bytes, the layout needs {layout.TotalLength * sizeof(float)}");
        }

        return new ParameterSet(layout, MemoryMarshal.Cast<byte, float>(bytes).ToArray());
    }
}
