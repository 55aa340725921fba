using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FedEdge.Transport.Codecs;
using FedEdge.Transport.Wire;

namespace FedEdge.Benchmarks;

/// <summary>
/// <c>wire --params N --codec f32|f16|int8|topk [--topk-fraction 0.01] [--chunk-size 262144] --json</c>:
/// serializes one model update of N parameters with the codec, splits it into frames and counts every byte.
/// </summary>
internal static class WireBench
{
    public static Task<int> RunAsync(string[] args)
    {
        int count = 1_048_576;
        string codecName = "f32";
        double fraction = 0.01;
        int chunkSize = WireFraming.DefaultChunkSize;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--params":
                    count = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--codec":
                    codecName = args[++i];
                    break;
                case "--topk-fraction":
                    fraction = double.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--chunk-size":
                    chunkSize = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--json":
                    break;
                default:
                    Console.Error.WriteLine($"wire: unknown argument '{args[i]}'.");
                    return Task.FromResult(2);
            }
        }

        ParameterCodecKind kind = codecName switch
        {
            "f32" => ParameterCodecKind.Float32,
            "f16" => ParameterCodecKind.Float16,
            "int8" => ParameterCodecKind.Int8,
            "topk" => ParameterCodecKind.TopK,
            _ => throw new ArgumentException($"Unknown codec '{codecName}'; use f32, f16, int8 or topk."),
        };

        // A layer-shaped model (weights and a bias) with N(0, 0.05) values, like a trained delta.
        int bias = Math.Min(1024, count / 2);
        var layout = new ParameterLayout(new TensorSpec("fc.weight", count - bias), new TensorSpec("fc.bias", bias));
        var values = new ParameterSet(layout);
        var random = new Random(7);
        Span<float> span = values.Values;
        for (int i = 0; i < span.Length; i++)
        {
            double u1 = 1.0 - random.NextDouble();
            double u2 = random.NextDouble();
            span[i] = (float)(0.05 * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }

        var update = new ModelUpdate
        {
            SenderId = "bench-device",
            Round = 1,
            Nonce = WireMessage.NewId(),
            SampleCount = 1000,
            Kind = UpdateKind.Delta,
            Values = values,
        };
        IParameterCodec codec = ParameterCodecs.Create(kind, fraction);
        var stopwatch = Stopwatch.StartNew();
        byte[] envelope = WireSerializer.Serialize(new WireMessage { MessageId = WireMessage.NewId(), SenderId = "bench-device", Body = update }, codec);
        IReadOnlyList<byte[]> frames = WireFraming.Split(envelope, chunkSize);
        double encodeMs = stopwatch.Elapsed.TotalMilliseconds;
        long wireBytes = frames.Sum(f => (long)f.Length);

        stopwatch.Restart();
        var reassembler = new FrameReassembler(TimeProvider.System);
        ReadOnlyMemory<byte> whole = default;
        foreach (byte[] frame in frames)
        {
            reassembler.TryAccept("bench", frame, out whole);
        }

        var decoded = (ModelUpdate)WireSerializer.Deserialize(whole.Span).Body;
        double decodeMs = stopwatch.Elapsed.TotalMilliseconds;
        double maxError = 0;
        ReadOnlySpan<float> back = decoded.Values.Values;
        for (int i = 0; i < back.Length; i++)
        {
            maxError = Math.Max(maxError, Math.Abs(span[i] - back[i]));
        }

        long rawBytes = 4L * count;
        var result = new Dictionary<string, object>
        {
            ["mode"] = "wire",
            ["codec"] = codecName,
            ["params"] = count,
            ["chunk_size"] = chunkSize,
            ["frames"] = frames.Count,
            ["raw_bytes"] = rawBytes,
            ["wire_bytes"] = wireBytes,
            ["ratio"] = Math.Round((double)wireBytes / rawBytes, 5),
            ["max_abs_error"] = maxError,
            ["encode_ms"] = Math.Round(encodeMs, 2),
            ["decode_ms"] = Math.Round(decodeMs, 2),
        };
        if (kind == ParameterCodecKind.TopK)
        {
            result["topk_fraction"] = fraction;
        }

        Console.WriteLine(JsonSerializer.Serialize(result));
        return Task.FromResult(0);
    }
}
