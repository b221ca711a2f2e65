"""信易贷: banks and credit agencies reading a subject's credit information with the subject's authorisation."""
