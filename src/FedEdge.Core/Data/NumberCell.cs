using System.Globalization;

namespace FedEdge.Data;

/// <summary>Parses one numeric cell into float32 with explicit handling of NaN, infinities and values beyond float32's range.</summary>
internal static class NumberCell
{
    /// <summary>Parses <paramref name="text"/>; returns null on success or the reason it failed.</summary>
    public static string? TryParse(ReadOnlySpan<char> text, OutOfRangePolicy outOfRange, out float value, ref long clamped)
    {
        value = 0f;
        if (text.IsEmpty)
        {
            return "empty numeric field";
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed))
        {
            return $"'{Shorten(text)}' is not a number";
        }

        if (double.IsNaN(parsed))
        {
            return "NaN value";
        }

        if (double.IsInfinity(parsed))
        {
            return $"infinite value '{Shorten(text)}'";
        }

        if (Math.Abs(parsed) > float.MaxValue)
        {
            if (outOfRange == OutOfRangePolicy.BadRow)
            {
                return $"{parsed.ToString("R", CultureInfo.InvariantCulture)} exceeds the float32 range";
            }

            clamped++;
            value = parsed > 0 ? float.MaxValue : -float.MaxValue;
            return null;
        }

        // Subnormal doubles (e.g. 8.8e-318) become 0 or a subnormal float here; that is float32's nearest value.
        value = (float)parsed;
        return null;
    }

    public static string Shorten(ReadOnlySpan<char> text) => text.Length <= 40 ? text.ToString() : string.Concat(text[..37], "...");
}
