using System.Globalization;

namespace FedEdge.Messaging;

/// <summary>
/// The vocabulary a round task uses to name its update codec (<see cref="RoundTask.UpdateCodec"/>): <c>f32</c>,
/// <c>f16</c>, <c>int8</c> or <c>topk:FRACTION</c> with FRACTION in [<see cref="MinTopKFraction"/>, 1]. Transports map
/// these names to their encoders; the coordinator and the command line check a spec with <see cref="TryParse"/>.
/// </summary>
public static class UpdateCodecSpec
{
    /// <summary>Exact IEEE float32 (4 bytes per value): the default.</summary>
    public const string Float32 = "f32";

    /// <summary>IEEE float16 (2 bytes per value).</summary>
    public const string Float16 = "f16";

    /// <summary>8-bit affine quantisation per tensor (1 byte per value plus 8 per tensor).</summary>
    public const string Int8 = "int8";

    /// <summary>Top-k sparsification with error feedback on the worker (8 bytes per kept value).</summary>
    public const string TopK = "topk";

    /// <summary>The smallest top-k fraction: it bounds how far a top-k update may expand when decoded (at most 1/fraction values per kept one).</summary>
    public const double MinTopKFraction = 0.0001;

    /// <summary>
    /// Parses <paramref name="spec"/>; on success <paramref name="name"/> is the codec name and
    /// <paramref name="topKFraction"/> the kept fraction (1 for other codecs); on failure <paramref name="error"/> says why.
    /// </summary>
    public static bool TryParse(string? spec, out string name, out double topKFraction, out string error)
    {
        name = Float32;
        topKFraction = 1;
        error = string.Empty;
        string text = spec?.Trim() ?? string.Empty;
        switch (text.ToLowerInvariant())
        {
            case Float32 or "float32":
                return true;
            case Float16 or "float16":
                name = Float16;
                return true;
            case Int8:
                name = Int8;
                return true;
        }

        const string Prefix = TopK + ":";
        if (text.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            string value = text[Prefix.Length..];
            if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double fraction) || !double.IsFinite(fraction))
            {
                error = $"'{spec}': the top-k fraction '{value}' is not a number (write topk:0.01 to keep 1 % of the values).";
                return false;
            }

            if (fraction < MinTopKFraction || fraction > 1)
            {
                error = $"'{spec}': the top-k fraction must be in [{MinTopKFraction.ToString(CultureInfo.InvariantCulture)}, 1].";
                return false;
            }

            name = TopK;
            topKFraction = fraction;
            return true;
        }

        error = $"'{spec}' is not a codec; use f32, f16, int8 or topk:FRACTION (for example topk:0.01).";
        return false;
    }

    /// <summary>The canonical text of a valid spec (<c>topk:0.01</c>, <c>f16</c>, ...).</summary>
    /// <exception cref="ArgumentException"><paramref name="spec"/> is not a codec spec.</exception>
    public static string Normalize(string spec)
    {
        if (!TryParse(spec, out string name, out double fraction, out string error))
        {
            throw new ArgumentException(error, nameof(spec));
        }

        return name == TopK ? string.Create(CultureInfo.InvariantCulture, $"{TopK}:{fraction}") : name;
    }

    /// <summary>True when the spec names a codec other than float32: the worker then sends a delta, which such codecs carry best.</summary>
    public static bool SendsDelta(string? spec) => !string.IsNullOrWhiteSpace(spec) && TryParse(spec, out string name, out _, out _) && name != Float32;
}
