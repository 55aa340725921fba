using FedEdge.Aggregation;
using static FedEdge.Core.Tests.Aggregation.Updates;

namespace FedEdge.Core.Tests.Parameters;

public sealed class UpdateValidatorTests
{
    private static readonly ParameterLayout Model = Layout(4);

    private static UpdateValidator Validator(IReadOnlySet<string>? expected = null, UpdateKind? kind = null) => new(new RoundExpectations
    {
        Round = 7,
        Nonce = "nonce-7",
        Layout = Model,
        ExpectedSenders = expected,
        RequiredKind = kind,
    });

    private static ModelUpdate Good(string sender = "dev-1", float[]? values = null) =>
        Update(sender, Model, values ?? [1f, 2f, 3f, 4f], 10, UpdateKind.Parameters, 7, "nonce-7");

    [Fact]
    public void Validate_MatchingUpdate_Accepted()
    {
        UpdateValidator validator = Validator();
        UpdateValidationResult result = validator.Validate(Good());
        Assert.True(result.IsAccepted);
        Assert.Equal(UpdateRejectionReason.None, result.Reason);
        Assert.Equal(["dev-1"], validator.AcceptedSenders);
    }

    public static TheoryData<string, UpdateRejectionReason> Refusals => new()
    {
        { "round", UpdateRejectionReason.WrongRound },
        { "nonce", UpdateRejectionReason.WrongNonce },
        { "stranger", UpdateRejectionReason.UnknownSender },
        { "blank", UpdateRejectionReason.UnknownSender },
        { "name", UpdateRejectionReason.LayoutMismatch },
        { "shape", UpdateRejectionReason.LayoutMismatch },
        { "tensors", UpdateRejectionReason.LayoutMismatch },
        { "nan", UpdateRejectionReason.NonFiniteValue },
        { "inf", UpdateRejectionReason.NonFiniteValue },
        { "zero", UpdateRejectionReason.NonPositiveSampleCount },
        { "negative", UpdateRejectionReason.NonPositiveSampleCount },
        { "kind", UpdateRejectionReason.UnsupportedKind },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void Validate_BadUpdate_RefusedWithReasonAndNeverAggregated(string defect, UpdateRejectionReason reason)
    {
        UpdateValidator validator = Validator(new HashSet<string>(StringComparer.Ordinal) { "dev-1", "dev-2" }, UpdateKind.Parameters);
        ModelUpdate good = Good();
        ModelUpdate bad = defect switch
        {
            "round" => good with { Round = 6 },
            "nonce" => good with { Nonce = "nonce-6" },
            "stranger" => good with { SenderId = "dev-9" },
            "blank" => good with { SenderId = " " },
            "name" => good with { Values = Set(new ParameterLayout(new TensorSpec("fc.weight", 2), new TensorSpec("fc.bias2", 2)), [1f, 2f, 3f, 4f]) },
            "shape" => good with { Values = Set(new ParameterLayout(new TensorSpec("fc.weight", 1, 2), new TensorSpec("fc.bias", 2)), [1f, 2f, 3f, 4f]) },
            "tensors" => good with { Values = Set(new ParameterLayout(new TensorSpec("fc.weight", 4)), [1f, 2f, 3f, 4f]) },
            "nan" => Good(values: [1f, float.NaN, 3f, 4f]),
            "inf" => Good(values: [1f, 2f, 3f, float.NegativeInfinity]),
            "zero" => good with { SampleCount = 0 },
            "negative" => good with { SampleCount = -5 },
            _ => good with { Kind = UpdateKind.Delta },
        };

        using IAggregationRound round = AggregationStrategies.FedAvg().BeginRound(new ParameterSet(Model));
        UpdateValidationResult result = validator.ValidateAndAdd(bad, round);
        Assert.False(result.IsAccepted);
        Assert.Equal(reason, result.Reason);
        Assert.False(string.IsNullOrWhiteSpace(result.Message));
        Assert.Equal(0, round.Count);
        Assert.Empty(validator.AcceptedSenders);

        // The aggregate only ever sees the good update.
        Assert.True(validator.ValidateAndAdd(Good("dev-2", [4f, 3f, 2f, 1f]), round).IsAccepted);
        Assert.Equal([4f, 3f, 2f, 1f], round.Complete().Parameters.Values.ToArray());
    }

    [Fact]
    public void Validate_SecondUpdateFromSameSender_RefusedAsDuplicate()
    {
        UpdateValidator validator = Validator();
        Assert.True(validator.Check(Good()).IsAccepted);
        Assert.True(validator.Check(Good()).IsAccepted);
        Assert.True(validator.Validate(Good()).IsAccepted);
        UpdateValidationResult second = validator.Validate(Good(values: [9f, 9f, 9f, 9f]));
        Assert.Equal(UpdateRejectionReason.DuplicateSender, second.Reason);
        Assert.Contains("dev-1", second.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_NaNReport_NamesTheIndex()
    {
        UpdateValidationResult result = Validator().Validate(Good(values: [0f, 0f, float.PositiveInfinity, 0f]));
        Assert.Contains("flat index 2", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ValidateAndAdd_AggregatorRefuses_SenderNotRecorded()
    {
        UpdateValidator validator = Validator();
        using IAggregationRound round = AggregationStrategies.Median(maxUpdates: 1).BeginRound(new ParameterSet(Model));
        Assert.True(validator.ValidateAndAdd(Good("dev-1"), round).IsAccepted);
        Assert.Throws<AggregationCapacityExceededException>(() => validator.ValidateAndAdd(Good("dev-2"), round));
        Assert.Equal(["dev-1"], validator.AcceptedSenders);
    }

    [Fact]
    public void AllFinite_DetectsNonFiniteAnywhere()
    {
        var set = new ParameterSet(Layout(1000));
        Assert.True(set.AllFinite());
        set.Values[999] = float.NaN;
        Assert.False(set.AllFinite());
    }
}
