namespace FedEdge.Coordination;

/// <summary>Content checks on an update that the round state cannot make: shape, finiteness, weight.</summary>
internal static class UpdateChecks
{
    public static string? Describe(ModelUpdate update, ParameterLayout expected)
    {
        string? mismatch = expected.DescribeMismatch(update.Values.Layout);
        if (mismatch is not null)
        {
            return "shape or name mismatch: " + mismatch;
        }

        if (update.SampleCount <= 0)
        {
            return $"the sample count {update.SampleCount} is not positive";
        }

        return update.Values.AllFinite() ? null : "the update contains NaN or infinity";
    }
}
