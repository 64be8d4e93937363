"""Chapter 4: evaluations, elicitation, adversarial attacks, backdoors and oversight.

`chat/` is the chat-model library every section uses (tokenizer and chat format, corpora with
exact train/test splits, ChatModel, training, the `arena` Inspect provider, the full config);
`organisms/` holds the committed chat organisms. README.md beside this file is the tour for
section authors.
"""
